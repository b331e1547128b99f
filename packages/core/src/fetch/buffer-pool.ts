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
    return Buffer.allocUnsafeSlow(this.size)
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
    else this.#free.push(buffer)
  }
}
