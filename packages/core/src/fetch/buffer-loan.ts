import type { BufferLender } from '../source.js'
import type { BufferPool } from './buffer-pool.js'

/**
 * The pool buffers lent to the source of one read ({@link ReadRequest.buffers}): which are out,
 * so that the segment writer can take over the one a chunk lies in instead of copying the chunk,
 * and so that those the writer never saw go back to the pool when the read is over.
 */
export class BufferLoan implements BufferLender {
  readonly #pool: BufferPool
  readonly gather: number
  /** Lent and not claimed, by memory. */
  readonly #out = new Map<ArrayBufferLike, Buffer>()
  #over = false

  /** @param gather see {@link BufferLender.gather} */
  constructor(pool: BufferPool, gather = 1) {
    this.#pool = pool
    this.gather = gather
  }

  take = (): Buffer | undefined => {
    const buffer = this.#pool.take()
    if (buffer !== undefined) this.#lend(buffer)
    return buffer
  }

  acquire = async (): Promise<Buffer> => {
    const buffer = await this.#pool.acquire()
    this.#lend(buffer)
    return buffer
  }

  #lend(buffer: Buffer): void {
    // A wait that ends after the read is over: its source is done and will not fill it.
    if (this.#over) this.#pool.release(buffer)
    else this.#out.set(buffer.buffer, buffer)
  }

  /** The lent buffer `chunk` lies in, which is the caller's from now on; undefined when it lies in none. */
  claim(chunk: Uint8Array): Buffer | undefined {
    const buffer = this.#out.get(chunk.buffer)
    if (buffer !== undefined) this.#out.delete(chunk.buffer)
    return buffer
  }

  /** The read is over (its body done or abandoned): buffers never claimed go back to the pool. */
  settle(): void {
    this.#over = true
    for (const buffer of this.#out.values()) this.#pool.release(buffer)
    this.#out.clear()
  }
}
