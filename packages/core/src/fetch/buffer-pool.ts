/**
 * Spare buffers left by pools that were closed, by size, for the next pool of the process: the
 * files of a batch reuse a few MiB instead of allocating (and page-faulting) a MiB or more each,
 * which also kept V8 collecting garbage for the external memory (10 mark-compacts for 300 small
 * files). At most {@link MAX_SPARE_BYTES} are kept.
 */
const spares = new Map<number, Buffer[]>()
const MAX_SPARE_BYTES = 16 * 1024 * 1024

/**
 * Fixed-size buffers reused for the whole download, each owning its whole ArrayBuffer so it can be
 * transferred to the hashing thread and back. Reuse matters: a fresh MiB per batch costs 256 page
 * faults, about 0.15 s of kernel time per GiB. `max` bounds the memory: when every buffer is out
 * (being written, queued for a write, or being hashed), `acquire` waits, which is what applies
 * backpressure to the network.
 */
export class BufferPool {
  readonly size: number
  readonly max: number
  readonly #free: Buffer[] = []
  readonly #waiters: Array<(buffer: Buffer) => void> = []
  #created = 0
  #closed = false

  constructor(size: number, max: number) {
    this.size = size
    this.max = Math.max(1, max)
  }

  /** A buffer now, or undefined when all `max` are out. */
  take(): Buffer | undefined {
    const free = this.#free.pop()
    if (free !== undefined) return free
    if (this.#created >= this.max) return undefined
    this.#created++
    return spares.get(this.size)?.pop() ?? Buffer.allocUnsafeSlow(this.size)
  }

  /** A buffer, waiting for one to come back when all are out. */
  acquire(): Promise<Buffer> {
    const buffer = this.take()
    if (buffer !== undefined) return Promise.resolve(buffer)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Gives a buffer back (the same memory; the object may be a new view after a transfer). */
  release = (buffer: Buffer): void => {
    if (buffer.byteLength !== this.size) {
      // Detached and never coming back (the hashing thread died with it): make room for a new one.
      this.#created--
      const waiter = this.#waiters.shift()
      if (waiter !== undefined) waiter(this.take()!)
      return
    }
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) waiter(buffer)
    else if (this.#closed) spare(buffer)
    else this.#free.push(buffer)
  }

  /** The pool's user is done: its free buffers, and those still out once they come back, become spares. */
  close(): void {
    this.#closed = true
    for (const buffer of this.#free.splice(0)) spare(buffer)
  }
}

function spare(buffer: Buffer): void {
  const list = spares.get(buffer.byteLength) ?? []
  if ((list.length + 1) * buffer.byteLength > MAX_SPARE_BYTES) return
  list.push(buffer)
  spares.set(buffer.byteLength, list)
}
