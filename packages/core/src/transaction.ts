import { stat, type FileHandle } from 'node:fs/promises'
import { ensureDir } from './ensure-dir.js'
import { dirname, resolve } from 'node:path'
import type { IHasher } from 'hash-wasm'
import * as D from './defaults.js'
import { describeExpected, findMismatch, parseExpectedDigests, type ExpectedDigest } from './digest.js'
import { HaulError, abortedError, fsError, isHaulError } from './errors.js'
import type { HaulEvent } from './events.js'
import { BufferPool } from './buffer-pool.js'
import { OrderedHasher, StreamDigest } from './hasher.js'
import { JournalWriter, createRangeChecksum, type HeadRecord, JOURNAL_VERSION } from './journal.js'
import { acquireLock, type DestinationLock } from './lock.js'
import type { DownloadOptions, DownloadResult } from './options.js'
import { checkFreeSpace } from './preflight.js'
import { ProgressReporter } from './progress.js'
import { RangeSet } from './range-set.js'
import { recheckDestination, type CommitRecord } from './recheck.js'
import { backoffDelay, sleep } from './retry.js'
import { SegmentScheduler, type Segment } from './segments.js'
import type { RemoteInfo, Source } from './source.js'
import { SourcePool } from './source-pool.js'
import { commitFile, leaveStage, lockPathFor, openStage, removeDeadStages, removeStage, removeStagingRoot, type Stage } from './staging.js'
import { StallWatchdog } from './watchdog.js'

/** Bytes gathered from the network before one write; D.DEFAULT_WRITE_BUFFER_BYTES bounds the queued batches per connection. */
const WRITE_BATCH_BYTES = 1024 * 1024
/** Pool buffers per connection: the write queue, one in flight, one filling. */
const POOL_BUFFERS_PER_CONNECTION = D.DEFAULT_WRITE_BUFFER_BYTES / WRITE_BATCH_BYTES + 2
/** Pool buffers beyond those: how far hashing may lag behind the disk. */
const POOL_BUFFERS_HASH_LAG = 2
/**
 * Written bytes after which a datasync starts in the background, so the kernel writes the file
 * back while it downloads and the fsync before the commit has little left to do. 0 turns it off.
 */
const WRITEBACK_BYTES = writebackBytes(process.env.HAUL_WRITEBACK_MIB)

function writebackBytes(mib: string | undefined): number {
  const n = Number(mib ?? 64)
  return Number.isFinite(n) && n >= 0 ? n * 1024 * 1024 : 64 * 1024 * 1024
}
/** How often the whole download starts over from 0 (remote changed) before giving up. */
const MAX_RESTARTS = 3
/** Connections allowed for one file. */
const MAX_CONNECTIONS = 64

/** Thrown inside a round when the remote changed under us: everything starts over from 0. */
class RestartSignal extends Error {}

/**
 * Runs one download transaction: lock → re-check → stage → fetch (resume, retry, rotate,
 * segments) → verify → commit. Either the verified file is at `options.output` when this
 * resolves, or nothing changed there and the partial (if any) stays staged for the next run.
 *
 * @param sources the same bytes from one or more places, preferred first; `sources[0].id` is the
 *   identity recorded in the journal
 */
export async function runDownload(sources: ReadonlyArray<Source>, options: DownloadOptions): Promise<DownloadResult> {
  const emit = (event: HaulEvent): void => {
    try {
      options.onEvent?.(event)
    } catch {
      // A listener's bug must not break the download.
    }
  }
  try {
    return await new Transaction(sources, options, emit).run()
  } catch (err) {
    const error = toHaulError(err, options.signal)
    emit({ event: 'error', code: error.code, message: error.message })
    throw error
  } finally {
    await Promise.all(sources.map((s) => s.close?.().catch(() => undefined)))
  }
}

function toHaulError(err: unknown, signal: AbortSignal | undefined): HaulError {
  if (signal?.aborted === true) return isHaulError(err, 'HAUL_ABORTED') ? err : abortedError(signal)
  if (err instanceof HaulError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new HaulError('HAUL_INTERNAL', `Internal error: ${message}. Please report this.`, { cause: err })
}

/**
 * Piece size for several connections: about eight pieces per connection, so the bytes still
 * waiting for in-order hashing at the end are a few pieces; at least 4 MiB, so the request each
 * piece costs (a round trip) stays small next to its transfer, unless the file is too small to
 * give every connection that much; at most 64 MiB.
 */
function pieceBytes(size: number, connections: number): number {
  const MiB = 1024 * 1024
  return Math.min(64 * MiB, Math.max(D.DEFAULT_MIN_SEGMENT_BYTES, Math.min(Math.max(4 * MiB, Math.ceil(size / (connections * 8))), Math.ceil(size / connections))))
}

function positiveInteger(value: number | undefined, fallback: number, name: string, min: number, max: number): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) throw new HaulError('HAUL_USAGE', `${name} must be a whole number from ${min} to ${max}, got ${String(value)}.`)
  return v
}

/**
 * Per-connection write state: copies received bytes into pool buffers, writes them in order,
 * checkpoints.
 *
 * Full buffers queue up while one write is on the libuv pool, so the connection keeps reading
 * while the disk catches up. One write at a time: writes to one file contend for its inode lock,
 * so more in flight only burn CPU. Completions are accounted in order, so `done`, the ranges, the
 * hasher and the journal only ever see a contiguous prefix. A written buffer then goes to the
 * hash thread (when its bytes are next in file order) and back to the pool. Memory per
 * connection: at most {@link D.DEFAULT_WRITE_BUFFER_BYTES} queued or being written, plus the
 * buffer being filled; the pool's size bounds what waits for hashing.
 */
class SegmentWriter {
  /** The buffer being filled, and how much of it is. */
  #buffer: Buffer | undefined
  #fill = 0
  #writePos: number
  /** Buffers waiting for the write in flight. */
  readonly #queue: Array<{ buffer: Buffer; at: number; bytes: number }> = []
  /** Bytes queued or being written. */
  #pendingBytes = 0
  #writing: Promise<void> | undefined
  #failure: { error: unknown } | undefined
  /** Wakes `push` or `drain` when a write completes. */
  #wake: (() => void) | undefined
  /** End of the bytes whose write completed. */
  done: number
  #recordStart: number
  #recordAt = Date.now()
  readonly #checksum: IHasher
  readonly #tx: Transaction

  private constructor(tx: Transaction, pos: number, checksum: IHasher) {
    this.#tx = tx
    this.#writePos = pos
    this.done = pos
    this.#recordStart = pos
    this.#checksum = checksum
  }

  static async create(tx: Transaction, pos: number): Promise<SegmentWriter> {
    return new SegmentWriter(tx, pos, await createRangeChecksum())
  }

  /** Copies `chunk` in; resolves when the caller may read more (the write queue has room). */
  async push(chunk: Uint8Array): Promise<void> {
    const pool = this.#tx.pool
    for (let from = 0; from < chunk.length; ) {
      this.#buffer ??= pool.take() ?? (await pool.acquire())
      const n = Math.min(chunk.length - from, this.#buffer.length - this.#fill)
      this.#buffer.set(n === chunk.length ? chunk : chunk.subarray(from, from + n), this.#fill)
      this.#fill += n
      from += n
      if (this.#fill === this.#buffer.length) this.#flush()
    }
    while (this.#pendingBytes > D.DEFAULT_WRITE_BUFFER_BYTES && this.#failure === undefined) await this.#completion()
    if (this.#failure !== undefined) throw this.#failure.error
  }

  #completion(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve
    })
  }

  /** Queues the buffer being filled and starts a write unless one is in flight. */
  #flush(): void {
    const buffer = this.#buffer
    if (buffer === undefined) return
    const bytes = this.#fill
    this.#buffer = undefined
    this.#fill = 0
    // After a failure nothing more is written: #writeQueued would settle synchronously and leave
    // a settled #writing behind, which drain() would then await forever (a microtask spin).
    if (bytes === 0 || this.#failure !== undefined) return this.#tx.pool.release(buffer)
    this.#queue.push({ buffer, at: this.#writePos, bytes })
    this.#pendingBytes += bytes
    this.#writePos += bytes
    this.#writing ??= this.#writeQueued()
  }

  async #writeQueued(): Promise<void> {
    try {
      for (let next = this.#queue[0]; next !== undefined && this.#failure === undefined; next = this.#queue[0]) {
        await this.#tx.writeAt(next.buffer, next.bytes, next.at)
        this.#queue.shift()
        this.#pendingBytes -= next.bytes
        this.#account(next.buffer, next.at, next.bytes)
        this.#wake?.()
      }
    } catch (error) {
      this.#failure = { error }
      for (const entry of this.#queue.splice(0)) this.#tx.pool.release(entry.buffer)
    } finally {
      this.#writing = undefined
      this.#wake?.()
    }
  }

  #account(buffer: Buffer, at: number, bytes: number): void {
    this.#checksum.update(buffer.subarray(0, bytes))
    this.done = at + bytes
    this.#tx.written(at, buffer, bytes)
    if (this.done - this.#recordStart >= this.#tx.checkpointBytes || Date.now() - this.#recordAt >= D.DEFAULT_CHECKPOINT_MS) this.#checkpoint()
  }

  #checkpoint(): void {
    if (this.done <= this.#recordStart) return
    this.#tx.record(this.#recordStart, this.done, this.#checksum.digest('hex'))
    this.#checksum.init()
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

class Transaction {
  readonly #sources: ReadonlyArray<Source>
  readonly #options: DownloadOptions
  readonly #emit: (e: HaulEvent) => void
  readonly #expected: ExpectedDigest[]
  readonly #destination: string
  readonly #connections: number
  readonly #retries: number
  readonly #stallMs: number
  readonly #lowSpeed: number
  readonly #lowSpeedWindowMs: number
  readonly checkpointBytes: number
  readonly pool: BufferPool
  readonly #master = new AbortController()

  #lock: DestinationLock | undefined
  #stage: Stage | undefined
  #journal: JournalWriter | undefined
  #head!: HeadRecord
  #ranges = new RangeSet()
  #hasher!: OrderedHasher
  #size: number | undefined
  #pool: SourcePool
  #progress!: ProgressReporter
  #scheduler!: SegmentScheduler
  #round: AbortController | undefined
  #workers = new Set<Promise<void>>()
  #spawned = false
  #reading = 0
  #preflightDone = false
  #lastSource: Source | undefined
  #announced = new Set<Source>()
  #journalFailure: unknown
  #inPlaceRestarts = 0
  #unsynced = 0
  #writeback: Promise<void> | undefined

  constructor(sources: ReadonlyArray<Source>, options: DownloadOptions, emit: (e: HaulEvent) => void) {
    if (sources.length === 0) throw new HaulError('HAUL_USAGE', 'No source given: pass at least one URL or CID.')
    if (typeof options.output !== 'string' || options.output === '') throw new HaulError('HAUL_USAGE', 'The output path is required.')
    this.#sources = sources
    this.#options = options
    this.#emit = emit
    this.#expected = parseExpectedDigests(options)
    this.#destination = resolve(options.output)
    this.#connections = positiveInteger(options.connections, D.DEFAULT_CONNECTIONS, 'connections', 1, MAX_CONNECTIONS)
    this.#retries = positiveInteger(options.retries, D.DEFAULT_RETRIES, 'retries', 0, 1000)
    this.#stallMs = positiveInteger(options.stallTimeoutMs, D.DEFAULT_STALL_TIMEOUT_MS, 'stallTimeoutMs', 1, 86_400_000)
    this.#lowSpeed = positiveInteger(options.lowSpeedBytesPerSecond, D.DEFAULT_LOW_SPEED_BYTES_PER_SECOND, 'lowSpeedBytesPerSecond', 0, Number.MAX_SAFE_INTEGER)
    this.#lowSpeedWindowMs = positiveInteger(options.lowSpeedWindowMs, D.DEFAULT_LOW_SPEED_WINDOW_MS, 'lowSpeedWindowMs', 1, 86_400_000)
    if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size < 0)) throw new HaulError('HAUL_USAGE', `size must be a byte count, got ${options.size}.`)
    this.checkpointBytes = Math.max(1024 * 1024, Math.floor(D.DEFAULT_CHECKPOINT_BYTES / this.#connections))
    this.#pool = new SourcePool(sources, this.#retries)
    this.pool = new BufferPool(WRITE_BATCH_BYTES, this.#connections * POOL_BUFFERS_PER_CONNECTION + POOL_BUFFERS_HASH_LAG)
    this.#size = options.size
  }

  get #primary(): Source {
    return this.#sources[0]!
  }

  async run(): Promise<DownloadResult> {
    const signal = this.#options.signal
    if (signal?.aborted === true) throw abortedError(signal)
    const onAbort = (): void => this.#master.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await this.#run()
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async #run(): Promise<DownloadResult> {
    const destination = this.#destination
    const existing = await stat(destination).catch(() => undefined)
    if (existing?.isDirectory() === true) throw new HaulError('HAUL_USAGE', `The output ${destination} is a directory; give a file path.`, { path: destination })
    try {
      await ensureDir(dirname(destination))
    } catch (err) {
      throw fsError(err, 'create the folder', dirname(destination))
    }
    const lockPath = lockPathFor(destination)
    this.#lock = await acquireLock(lockPath, {
      noWait: this.#options.noWait ?? false,
      signal: this.#master.signal,
      onWait: () => this.#emit({ event: 'wait', output: destination, lock: lockPath }),
    })
    let committed: CommitRecord | undefined
    try {
      const cached = await recheckDestination(destination, this.#primary.id, this.#expected, this.#lock.handedOver, this.#options.size)
      if (cached !== undefined) {
        await removeDeadStages(destination)
        this.#emit({ event: 'done', path: destination, bytes: cached.size, sha256: cached.sha256, cached: true })
        committed = await this.#commitRecord(cached.size, { sha256: cached.sha256 })
        return { path: destination, bytes: cached.size, sha256: cached.sha256, resumedFrom: cached.size, source: this.#primary.label, cached: true }
      }
      const result = await this.#download()
      committed = await this.#commitRecord(result.bytes, result.digests)
      const { digests: _d, ...rest } = result
      return rest
    } finally {
      await this.#lock.release(committed === undefined ? undefined : JSON.stringify(committed)).catch(() => undefined)
      await removeStagingRoot(destination)
    }
  }

  async #commitRecord(size: number, digests: CommitRecord['digests']): Promise<CommitRecord | undefined> {
    const st = await stat(this.#destination).catch(() => undefined)
    if (st === undefined) return undefined
    return { source: this.#primary.id, size, digests, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs }
  }

  async #download(): Promise<DownloadResult & { digests: CommitRecord['digests'] }> {
    const expectedText = describeExpected(this.#expected)
    const stage = await openStage(
      this.#destination,
      (state) =>
        state.head.source === this.#primary.id &&
        state.head.expected === expectedText &&
        (this.#options.size === undefined || state.head.size === undefined || state.head.size === this.#options.size),
      this.#master.signal,
    )
    this.#stage = stage
    let keep = true
    try {
      if (stage.previous !== undefined) {
        this.#head = stage.previous.head
        this.#size ??= this.#head.size
        this.#ranges = stage.verified ?? new RangeSet()
        this.#journal = await JournalWriter.append(stage.journalPath).catch((err: unknown) => {
          throw fsError(err, 'open the journal', stage.journalPath)
        })
      } else {
        this.#head = { t: 'head', v: JOURNAL_VERSION, source: this.#primary.id, expected: expectedText, validators: {}, created: new Date().toISOString(), ...(this.#size === undefined ? {} : { size: this.#size }) }
        this.#journal = await JournalWriter.create(stage.journalPath, this.#head).catch((err: unknown) => {
          throw fsError(err, 'write the journal', stage.journalPath)
        })
      }
      const resumedFrom = this.#ranges.total
      await this.#newHasher(stage.data)
      this.#progress = new ProgressReporter(this.#emit, D.DEFAULT_PROGRESS_INTERVAL_MS, this.#size)
      this.#emit({ event: 'start', source: this.#primary.id, output: this.#destination, ...(this.#size === undefined ? {} : { total: this.#size }), resumedFrom })

      this.#progress.start()
      try {
        await this.#fetchAll(stage.data)
      } finally {
        this.#progress.update(this.#ranges.total, 0)
        this.#progress.stop()
      }

      const size = this.#size ?? this.#ranges.total
      if (this.#ranges.gaps(size).length > 0) throw new HaulError('HAUL_INTERNAL', 'Internal error: the transfer ended with bytes missing. Please report this.')
      await this.#journal.close()
      this.#journal = undefined
      if (this.#journalFailure !== undefined) throw fsError(this.#journalFailure, 'write the journal', stage.journalPath)
      const digests = await this.#hasher.finish(size)
      const mismatch = findMismatch(this.#expected, digests)
      if (mismatch !== undefined) {
        keep = false
        throw new HaulError(
          'HAUL_INTEGRITY',
          `The downloaded bytes do not match the expected ${mismatch.expected.algorithm} digest (expected ${mismatch.expected.candidates.join(' or ')}, got ${mismatch.actual}). Nothing was saved; the source may be corrupt or the digest wrong.`,
          { source: this.#primary.id, path: this.#destination, expected: `${mismatch.expected.algorithm}:${mismatch.expected.candidates[0] ?? ''}`, actual: `${mismatch.expected.algorithm}:${mismatch.actual}` },
        )
      }
      try {
        await this.#writeback
        await commitFile(stage.data, stage.dataPath, this.#destination)
      } catch (err) {
        keep = false // an fsync error is never retried: the staged bytes may be lost already
        throw err
      }
      await removeStage(stage).catch(() => undefined)
      this.#emit({ event: 'done', path: this.#destination, bytes: size, sha256: digests.sha256 })
      return { path: this.#destination, bytes: size, sha256: digests.sha256, resumedFrom, source: (this.#lastSource ?? this.#primary).label, cached: false, digests }
    } catch (err) {
      await this.#hasher?.drop().catch(() => undefined)
      await this.#journal?.close().catch(() => undefined)
      await this.#writeback
      await stage.data.close().catch(() => undefined)
      // Nothing worth resuming: leave the folder as it was.
      if (!keep || this.#ranges.total === 0) await removeStage(stage).catch(() => undefined)
      throw err
    } finally {
      leaveStage(stage)
    }
  }

  async #newHasher(data: FileHandle): Promise<void> {
    await this.#hasher?.drop()
    this.#hasher = new OrderedHasher(await StreamDigest.create(this.#expected.map((e) => e.algorithm), () => this.#size), data, this.pool)
    // A resumed prefix is read back and hashed in the background while new bytes arrive.
    this.#hasher.extend(this.#ranges.prefixEnd)
  }

  // ---- fetching ---------------------------------------------------------------------------

  async #fetchAll(data: FileHandle): Promise<void> {
    for (let restarts = 0; ; restarts++) {
      this.#scheduler = new SegmentScheduler(this.#ranges.gaps(this.#size), D.DEFAULT_MIN_SEGMENT_BYTES)
      if (this.#scheduler.done) return
      try {
        await this.#runRound()
        return
      } catch (err) {
        if (!(err instanceof RestartSignal) || restarts >= MAX_RESTARTS) throw err
        this.#emit({ event: 'retry', attempt: restarts + 2, delayMs: 0, reason: err.message, source: this.#primary.label })
        await this.#reset(data, undefined)
      }
    }
  }

  /** Truncates everything and starts the journal over (the remote changed or can't resume). */
  async #reset(data: FileHandle, info: RemoteInfo | undefined): Promise<void> {
    await this.#hasher.settle()
    await this.#writeback
    await data.truncate(0).catch((err: unknown) => {
      throw fsError(err, 'truncate the partial file', this.#stage!.dataPath)
    })
    this.#ranges.clear()
    this.#size = this.#options.size ?? info?.size
    this.#head = { ...this.#head, validators: {}, created: new Date().toISOString() }
    if (this.#size === undefined) delete this.#head.size
    else this.#head.size = this.#size
    await this.#journal!.reset(this.#head).catch((err: unknown) => {
      throw fsError(err, 'write the journal', this.#stage!.journalPath)
    })
    this.#progress.total = this.#size
    this.#preflightDone = false
    await this.#newHasher(data)
  }

  async #runRound(): Promise<void> {
    const round = new AbortController()
    this.#round = round
    const onAbort = (): void => round.abort(this.#master.signal.reason)
    this.#master.signal.addEventListener('abort', onAbort, { once: true })
    this.#spawned = false
    this.#workers = new Set()
    let failure: unknown
    const start = (): void => {
      const p: Promise<void> = this.#worker(round.signal).catch((err: unknown) => {
        if (failure === undefined) failure = err
        round.abort(err)
      })
      this.#workers.add(p)
    }
    this.#spawnMore = () => {
      for (let i = 1; i < this.#connections; i++) start()
    }
    start()
    try {
      while (true) {
        const pending = [...this.#workers]
        await Promise.all(pending)
        if (this.#workers.size === pending.length) break
        for (const p of pending) this.#workers.delete(p)
      }
    } finally {
      this.#master.signal.removeEventListener('abort', onAbort)
    }
    if (failure !== undefined) throw failure
    if (this.#master.signal.aborted) throw abortedError(this.#options.signal)
  }

  #spawnMore: () => void = () => undefined

  async #worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return
      const segment = this.#scheduler.take()
      if (segment === undefined) return
      try {
        await this.#fill(segment, signal)
      } finally {
        this.#scheduler.release(segment)
      }
    }
  }

  /** Fills one segment, retrying and rotating sources until it is complete. */
  async #fill(segment: Segment, signal: AbortSignal): Promise<void> {
    while (segment.pos < segment.end) {
      if (signal.aborted) throw this.#abortReason(signal)
      const pick = this.#pool.pick()
      if ('waitMs' in pick) {
        await sleep(Math.max(0, pick.waitMs), signal).catch(() => undefined)
        continue
      }
      const source = pick.source
      if (source !== this.#primary && !this.#announced.has(source)) {
        this.#announced.add(source)
        this.#emit({ event: 'source', source: source.label, reason: this.#lastSource === undefined ? 'segment' : 'failover' })
      }
      try {
        await this.#read(segment, source, signal)
      } catch (err) {
        if (err instanceof RestartSignal) throw err
        if (signal.aborted && !(err instanceof HaulError && err.code !== 'HAUL_ABORTED')) throw this.#abortReason(signal)
        const error = err instanceof HaulError ? err : new HaulError('HAUL_SOURCE', `${source.label}: ${err instanceof Error ? err.message : String(err)}`, { source: source.label, transient: true, cause: err })
        if (error.code !== 'HAUL_SOURCE' && error.code !== 'HAUL_INTEGRITY') throw error
        this.#retryAfterFailure(source, error)
      }
    }
  }

  #abortReason(signal: AbortSignal): unknown {
    return this.#master.signal.aborted ? abortedError(this.#options.signal) : signal.reason
  }

  #retryAfterFailure(source: Source, error: HaulError): void {
    const maxRetryAfter = D.DEFAULT_MAX_RETRY_AFTER_MS
    if (error.retryAfterMs !== undefined && error.retryAfterMs > maxRetryAfter) {
      error.transient = false
      error.message += ` (the server asked to wait ${Math.round(error.retryAfterMs / 1000)} s, longer than haul waits)`
    }
    const delay = error.retryAfterMs ?? backoffDelay(this.#pool.failures(source) + 1, this.#options.backoff)
    const { attempt } = this.#pool.fail(source, error, delay)
    const next = this.#pool.pick() // throws the final error when every source is out
    const delayMs = 'waitMs' in next ? Math.max(0, next.waitMs) : 0
    this.#emit({ event: 'retry', attempt: attempt + 1, delayMs, reason: error.message, source: source.label })
    if ('source' in next && next.source !== source) {
      this.#announced.add(next.source)
      this.#emit({ event: 'source', source: next.source.label, reason: `failover from ${source.label}` })
    }
  }

  /** One read from one source into one segment. */
  async #read(segment: Segment, source: Source, roundSignal: AbortSignal): Promise<void> {
    const controller = new AbortController()
    const onRoundAbort = (): void => controller.abort(roundSignal.reason)
    roundSignal.addEventListener('abort', onRoundAbort, { once: true })
    const dog = new StallWatchdog(controller, this.#stallMs, this.#lowSpeed, this.#lowSpeedWindowMs)
    const started = Date.now()
    let received = 0
    let ttfb: number | undefined
    let writer: SegmentWriter | undefined
    this.#pool.begin(source)
    this.#reading++
    try {
      const response = await source.read({
        offset: segment.pos,
        ...(segment.end === Number.POSITIVE_INFINITY ? {} : { end: segment.end }),
        ...(this.#head.validators[source.label] === undefined ? {} : { validator: this.#head.validators[source.label]! }),
        signal: controller.signal,
        // SegmentWriter.push copies every chunk before the loop below asks for the next.
        reuseChunks: true,
      })
      ttfb = Date.now() - started
      const iterator = response.body[Symbol.asyncIterator]()
      try {
        await this.#accept(segment, source, response.info, response.offset)
        writer = await SegmentWriter.create(this, segment.pos)
        this.#lastSource = source
        for (;;) {
          const next = await iterator.next()
          if (next.done === true) break
          const chunk = next.value
          dog.touch(chunk.length)
          const room = segment.end - segment.pos
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk
          if (part.length > 0) {
            segment.pos += part.length
            received += part.length
            await writer.push(part)
          }
          if (segment.pos >= segment.end) break
        }
      } finally {
        await iterator.return?.().catch(() => undefined)
      }
      await writer.drain()
      if (segment.pos < segment.end) {
        if (segment.end !== Number.POSITIVE_INFINITY) {
          throw new HaulError('HAUL_SOURCE', `${source.label}: the connection ended at byte ${segment.pos}, before byte ${segment.end}`, { source: source.label, transient: true })
        }
        this.#learnSize(segment.pos)
        segment.end = segment.pos
      }
    } catch (err) {
      if (writer !== undefined) await writer.drain() // keep what arrived before the failure
      if (err instanceof RestartSignal) throw err
      // A stall abort surfaces as whatever the driver makes of an aborted request; say what it was.
      if (dog.reason !== undefined && !roundSignal.aborted) {
        throw new HaulError('HAUL_SOURCE', `${source.label}: ${dog.reason}`, { source: source.label, transient: true, cause: err })
      }
      throw err
    } finally {
      dog.stop()
      this.#reading--
      this.#pool.end(source, received, Date.now() - started, ttfb)
      roundSignal.removeEventListener('abort', onRoundAbort)
      this.#progress.update(this.#ranges.total, this.#reading)
    }
  }

  /** Checks what a source says against what we know; restarts, rejects, or learns from it. */
  async #accept(segment: Segment, source: Source, info: RemoteInfo, offset: number): Promise<void> {
    if (offset !== segment.pos && offset !== 0) {
      throw new HaulError('HAUL_INTERNAL', `Internal error: ${source.label} answered a read at ${segment.pos} with bytes from ${offset}.`)
    }
    const recorded = this.#head.validators[source.label]
    const authoritative = source === this.#primary || recorded !== undefined
    const changed =
      (recorded !== undefined && info.validator !== undefined && info.validator !== recorded) ||
      (authoritative && info.size !== undefined && this.#size !== undefined && info.size !== this.#size && this.#options.size === undefined)
    if (!authoritative && info.size !== undefined && this.#size !== undefined && info.size !== this.#size) {
      throw new HaulError('HAUL_SOURCE', `${source.label} has ${info.size} bytes, but the file is ${this.#size} bytes: not the same file.`, { source: source.label, transient: false })
    }
    if (this.#options.size !== undefined && info.size !== undefined && info.size !== this.#options.size) {
      throw new HaulError('HAUL_SOURCE', `${source.label} has ${info.size} bytes, but ${this.#options.size} were expected.`, { source: source.label, transient: false })
    }
    if (changed || (offset === 0 && segment.pos > 0)) {
      const why = changed ? `${source.label} changed since the partial download was written; starting over` : `${source.label} cannot resume; starting over from byte 0`
      if (offset !== 0 || this.#workers.size > 1 || this.#spawned) throw new RestartSignal(why)
      // Bytes fetched before a restart are lost, so they are no progress: bound the restarts.
      if (++this.#inPlaceRestarts > MAX_RESTARTS) throw new HaulError('HAUL_SOURCE', `${why}, for the ${this.#inPlaceRestarts}th time: the source cannot serve the file whole. Try a mirror or later.`, { source: source.label, transient: false })
      // The only connection already has the bytes from 0: start over in place.
      this.#emit({ event: 'retry', attempt: 1, delayMs: 0, reason: why, source: source.label })
      await this.#reset(this.#stage!.data, info)
      this.#scheduler = new SegmentScheduler([], D.DEFAULT_MIN_SEGMENT_BYTES)
      segment.pos = 0
      segment.end = this.#size ?? Number.POSITIVE_INFINITY
    }
    if (this.#size === undefined && info.size !== undefined) this.#learnSize(info.size)
    if (segment.end === Number.POSITIVE_INFINITY && this.#size !== undefined) segment.end = this.#size
    if (info.validator !== undefined && this.#head.validators[source.label] !== info.validator) {
      this.#head.validators[source.label] = info.validator
      this.#journalWrite({ t: 'info', label: source.label, validator: info.validator, ...(this.#size === undefined ? {} : { size: this.#size }) })
    }
    if (!this.#preflightDone && this.#size !== undefined) {
      this.#preflightDone = true
      await checkFreeSpace(dirname(this.#destination), Math.max(0, this.#size - this.#ranges.total), D.DEFAULT_SPACE_MARGIN_BYTES)
    }
    if (!this.#spawned && this.#connections > 1 && info.ranges && this.#size !== undefined) {
      this.#spawned = true
      this.#scheduler.usePieces(pieceBytes(this.#size, this.#connections))
      this.#spawnMore()
    }
  }

  #learnSize(size: number): void {
    this.#size = size
    this.#head.size = size
    this.#progress.total = size
  }

  // ---- called by SegmentWriter ------------------------------------------------------------

  /** Writes `buffer[0, length)` at `at`; every byte or a HaulError. */
  async writeAt(buffer: Buffer, length: number, at: number): Promise<void> {
    const data = this.#stage!.data
    try {
      for (let done = 0; done < length; ) {
        const { bytesWritten } = await data.write(buffer, done, length - done, at + done)
        if (bytesWritten === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' })
        done += bytesWritten
      }
    } catch (err) {
      throw fsError(err, 'write to the partial file', this.#stage!.dataPath)
    }
  }

  /** `buffer[0, length)` is on disk (page cache) at `at`; the buffer is handed on. */
  written(at: number, buffer: Buffer, length: number): void {
    this.#unsynced += length
    if (this.#unsynced >= WRITEBACK_BYTES && this.#writeback === undefined && WRITEBACK_BYTES > 0) {
      this.#unsynced = 0
      // A failure here shows again in the fsync before the commit, which is where it counts.
      this.#writeback = this.#stage!.data.datasync().then(
        () => (this.#writeback = undefined),
        () => (this.#writeback = undefined),
      )
    }
    this.#ranges.add(at, at + length)
    this.#hasher.written(at, buffer, length, this.#ranges.prefixEnd, this.pool.release)
    this.#progress.update(this.#ranges.total, this.#reading)
  }

  /** Appends a data record for written bytes [start, end). */
  record(start: number, end: number, checksum: string): void {
    this.#journalWrite({ t: 'data', s: start, e: end, x: checksum })
  }

  #journalWrite(record: Parameters<JournalWriter['write']>[0]): void {
    this.#journal?.write(record).catch((err: unknown) => {
      if (this.#journalFailure !== undefined) return
      this.#journalFailure = err
      // Without a journal, what arrives next could not be resumed: stop now, not after the file.
      this.#round?.abort(fsError(err, 'write the journal', this.#stage?.journalPath ?? 'journal'))
    })
  }
}
