import * as D from '../defaults.js'
import { HaulError } from '../errors.js'
import type { BufferLoan } from './buffer-loan.js'
import type { BufferPool } from './buffer-pool.js'

/**
 * Where a {@link SegmentWriter} puts what it receives: the stage's partial file, and whoever
 * follows the written bytes (ranges, hasher, progress) and keeps the journal.
 */
export interface SegmentSink {
  /** The buffers bytes are gathered in; a written buffer is handed on through {@link written}. */
  readonly pool: BufferPool
  /** Bytes written between journal records. */
  readonly checkpointBytes: number
  /** Writes `buffer[0, length)` at `at`; every byte or a HaulError. */
  writeAt(buffer: Buffer, length: number, at: number): Promise<void>
  /** `buffer[0, length)` is on disk (page cache) at `at`; the sink now owns the buffer. */
  written(at: number, buffer: Buffer, length: number): void
  /**
   * Bytes [at, at + length) are on disk, but their buffer stays with the writer (a lent buffer
   * its source is still filling): count them now; {@link written} hands the buffer over later,
   * covering them again.
   */
  landed(at: number, length: number): void
  /** Bytes [start, end) are written: record them in the journal. */
  record(start: number, end: number): void
}

/**
 * Per-connection write state: gathers received bytes in pool buffers, writes them in order,
 * checkpoints: a journal record after every {@link SegmentSink.checkpointBytes} written or
 * {@link D.DEFAULT_CHECKPOINT_MS}, whichever comes first (the first one too), so a SIGKILL costs
 * little at any speed. A source that read its body into buffers of the read's {@link BufferLoan}
 * yields chunks that already lie in pool memory: the writer takes such a buffer over as the one
 * being filled, so those bytes are never copied; other chunks are copied in.
 *
 * Full buffers queue up while one write is on the libuv pool, so the connection keeps reading
 * while the disk catches up. One write at a time: writes to one file contend for its inode lock,
 * so more in flight only burn CPU. Completions are accounted in order, so `done`, the ranges, the
 * hasher and the journal only ever see a contiguous prefix. A written buffer then goes to the
 * hash thread (when its bytes are next in file order) and back to the pool. Memory per
 * connection: at most {@link D.DEFAULT_WRITE_BUFFER_BYTES} queued or being written, plus the
 * buffer being filled; the pool's size bounds what waits for hashing.
 */
export class SegmentWriter {
  /** The buffer being filled, and how much of it is. */
  #buffer: Buffer | undefined
  #fill = 0
  /** When the buffer being filled was taken. */
  #bufferSince = 0
  /** The buffer being filled is a lent one, which its source is still filling. */
  #lent = false
  /** Bytes of the buffer being filled that are already written out (a lent buffer, by time). */
  #landed = 0
  #writePos: number
  /**
   * Writes waiting for the one in flight: `buffer[from, from + bytes)` goes to `at`; then the
   * buffer is handed on (`handOver`), or stays with the writer, its source still filling it.
   */
  readonly #queue: Array<{ buffer: Buffer; from: number; bytes: number; at: number; handOver: boolean }> = []
  /** Bytes queued or being written. */
  #pendingBytes = 0
  #writing: Promise<void> | undefined
  #failure: { error: unknown } | undefined
  /** Wakes `push` or `drain` when a write completes. */
  #wake: (() => void) | undefined
  /** End of the bytes whose write completed. */
  done: number
  #recordStart: number
  /** When the last record went out; none yet, so the first bytes are written and recorded at once. */
  #recordAt = 0
  readonly #sink: SegmentSink
  readonly #loan: BufferLoan | undefined

  private constructor(sink: SegmentSink, pos: number, loan: BufferLoan | undefined) {
    this.#sink = sink
    this.#loan = loan
    this.#writePos = pos
    this.done = pos
    this.#recordStart = pos
  }

  /** @param loan the buffers lent to the read whose chunks this writer takes */
  static create(sink: SegmentSink, pos: number, loan?: BufferLoan): SegmentWriter {
    return new SegmentWriter(sink, pos, loan)
  }

  /** Takes `chunk` in; resolves when the caller may read more (the write queue has room). */
  async push(chunk: Uint8Array): Promise<void> {
    if (!this.#inPlace(chunk)) await this.#copy(chunk)
    // A slow stream writes (and then records) what it has by time, not only by the buffer-full,
    // so a kill loses at most about D.DEFAULT_CHECKPOINT_MS of transfer. A lent buffer's source
    // goes on filling it (at 10 MiB/s a MiB takes 100 ms): its filled part is written out and
    // recorded, and the buffer is handed on once full. A buffer that fills faster than that is
    // written whole (one write and one hand-over instead of pieces); the first bytes go at once.
    if (this.#fill > this.#landed && this.#writing === undefined && this.#failure === undefined && this.#dueByTime()) {
      if (this.#lent) this.#land()
      else this.#flush()
    }
    while (this.#pendingBytes > D.DEFAULT_WRITE_BUFFER_BYTES && this.#failure === undefined) await this.#completion()
    if (this.#failure !== undefined) throw this.#failure.error
  }

  /** Whether the buffer being filled has waited a checkpoint's time since it (or the last record) began. */
  #dueByTime(): boolean {
    return this.#recordAt === 0 || Date.now() - Math.max(this.#recordAt, this.#bufferSince) >= D.DEFAULT_CHECKPOINT_MS
  }

  /**
   * Whether `chunk` is already where it belongs: right after the bytes of the buffer being filled,
   * or at the start of a lent buffer, which then becomes the one being filled.
   */
  #inPlace(chunk: Uint8Array): boolean {
    const current = this.#buffer
    if (current !== undefined && chunk.buffer === current.buffer && chunk.byteOffset === current.byteOffset + this.#fill && this.#fill + chunk.length <= current.length) {
      this.#fill += chunk.length
      if (this.#fill === current.length) this.#flush()
      return true
    }
    const lent = this.#loan?.claim(chunk)
    if (lent === undefined) return false
    if (chunk.byteOffset !== lent.byteOffset) {
      throw new HaulError('HAUL_INTERNAL', 'Internal error: a source filled a lent buffer from its middle. Please report this.')
    }
    this.#flush()
    this.#buffer = lent
    this.#bufferSince = Date.now()
    this.#lent = true
    this.#fill = chunk.length
    if (this.#fill === lent.length) this.#flush()
    return true
  }

  async #copy(chunk: Uint8Array): Promise<void> {
    const pool = this.#sink.pool
    for (let from = 0; from < chunk.length; ) {
      if (this.#buffer === undefined) {
        this.#buffer = pool.take() ?? (await pool.acquire())
        this.#bufferSince = Date.now()
      }
      const n = Math.min(chunk.length - from, this.#buffer.length - this.#fill)
      this.#buffer.set(n === chunk.length ? chunk : chunk.subarray(from, from + n), this.#fill)
      this.#fill += n
      from += n
      if (this.#fill === this.#buffer.length) this.#flush()
    }
  }

  #completion(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve
    })
  }

  /** Queues the buffer being filled (what of it is not written yet) and starts a write unless one is in flight. */
  #flush(): void {
    const buffer = this.#buffer
    if (buffer === undefined) return
    const length = this.#fill
    const from = this.#landed
    this.#buffer = undefined
    this.#lent = false
    this.#fill = 0
    this.#landed = 0
    // After a failure nothing more is written: #writeQueued would settle synchronously and leave
    // a settled #writing behind, which drain() would then await forever (a microtask spin).
    if (length === 0 || this.#failure !== undefined) return this.#sink.pool.release(buffer)
    this.#queue.push({ buffer, from, bytes: length - from, at: this.#writePos, handOver: true })
    this.#pendingBytes += length - from
    this.#writePos += length - from
    this.#writing ??= this.#writeQueued()
  }

  /** Queues the filled, unwritten part of the lent buffer being filled; the buffer stays. */
  #land(): void {
    // After a failure nothing more is written (see #flush: a settled #writing would be left behind).
    if (this.#failure !== undefined) return
    const buffer = this.#buffer!
    const from = this.#landed
    const bytes = this.#fill - from
    this.#landed = this.#fill
    this.#queue.push({ buffer, from, bytes, at: this.#writePos, handOver: false })
    this.#pendingBytes += bytes
    this.#writePos += bytes
    this.#writing ??= this.#writeQueued()
  }

  async #writeQueued(): Promise<void> {
    try {
      for (let next = this.#queue[0]; next !== undefined && this.#failure === undefined; next = this.#queue[0]) {
        await this.#sink.writeAt(next.from === 0 ? next.buffer : next.buffer.subarray(next.from), next.bytes, next.at)
        this.#queue.shift()
        this.#pendingBytes -= next.bytes
        this.#account(next)
        this.#wake?.()
      }
    } catch (error) {
      this.#failure = { error }
      // A buffer that stays (landed part of a lent one) is still being filled: it goes with its last entry.
      for (const entry of this.#queue.splice(0)) if (entry.handOver) this.#sink.pool.release(entry.buffer)
    } finally {
      this.#writing = undefined
      this.#wake?.()
    }
  }

  #account({ buffer, from, bytes, at, handOver }: { buffer: Buffer; from: number; bytes: number; at: number; handOver: boolean }): void {
    this.done = at + bytes
    if (handOver) this.#sink.written(at - from, buffer, from + bytes)
    else this.#sink.landed(at, bytes)
    if (this.done - this.#recordStart >= this.#sink.checkpointBytes || Date.now() - this.#recordAt >= D.DEFAULT_CHECKPOINT_MS) this.#checkpoint()
  }

  #checkpoint(): void {
    if (this.done <= this.#recordStart) return
    this.#sink.record(this.#recordStart, this.done)
    this.#recordStart = this.done
    this.#recordAt = Date.now()
  }

  /** Writes what is buffered, waits for it, and records it in the journal. */
  async drain(): Promise<void> {
    try {
      this.#flush()
      while (this.#writing !== undefined) await this.#writing
      if (this.#failure !== undefined) throw this.#failure.error
    } finally {
      this.#checkpoint()
    }
  }
}
