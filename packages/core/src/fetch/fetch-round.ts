import { dirname } from 'node:path'
import * as D from '../defaults.js'
import { HaulError } from '../errors.js'
import type { HaulEvent } from '../events.js'
import { MAX_RESTARTS, pieceBytesFor, type ResolvedOptions } from '../resolve-options.js'
import type { RemoteInfo, Source } from '../source.js'
import { checkFreeSpace } from '../stage/preflight.js'
import type { StagedFile } from '../stage/staged-file.js'
import { judgeResponse } from './accept.js'
import { BufferLoan } from './buffer-loan.js'
import type { ProgressReporter } from './progress.js'
import { backoffDelay, sleep } from './retry.js'
import { SegmentScheduler, type Segment } from './segments.js'
import { SegmentWriter, type SegmentSink } from './segment-writer.js'
import type { SourcePool } from './source-pool.js'
import { StallWatchdog } from './watchdog.js'

/** Thrown inside a round when the remote changed under us: everything starts over from 0. */
class RestartSignal extends Error {}

/** What the fetch stage works with. */
export interface FetchContext {
  readonly primary: Source
  readonly pool: SourcePool
  readonly options: ResolvedOptions
  /** The stage: what is written, the journal's validators, the size. */
  readonly stage: StagedFile
  /** Where received bytes go. */
  readonly sink: SegmentSink
  readonly progress: ProgressReporter
  /** Aborts the whole fetch (the caller's signal). */
  readonly signal: AbortSignal
  /** The error to throw once `signal` fired. */
  aborted(): HaulError
  emit(event: HaulEvent): void
  /** Throws every byte away and starts the file over from byte 0 (with what the source said, if it said anything). */
  startOver(info: RemoteInfo | undefined): Promise<void>
}

/**
 * The fetch stage: fills the stage's gaps in rounds. A round runs workers (one, then up to
 * `connections` once a source shows it serves ranges) that take segments from the scheduler and
 * fill each one, retrying and rotating sources; each response is judged before its bytes are
 * written (refused, accepted, or the whole file starts over in a new round).
 */
export class FetchRounds {
  readonly #ctx: FetchContext
  /** The sink the writers use: the context's, plus progress. */
  readonly #sink: SegmentSink
  #scheduler!: SegmentScheduler
  #round: AbortController | undefined
  #workers = new Set<Promise<void>>()
  #spawned = false
  #spawnMore: () => void = () => undefined
  #reading = 0
  #preflightDone = false
  #lastSource: Source | undefined
  readonly #announced = new Set<Source>()
  #inPlaceRestarts = 0

  constructor(ctx: FetchContext) {
    this.#ctx = ctx
    const { sink, stage, progress } = ctx
    this.#sink = {
      pool: sink.pool,
      checkpointBytes: sink.checkpointBytes,
      writeAt: (buffer, length, at) => sink.writeAt(buffer, length, at),
      written: (at, buffer, length) => {
        sink.written(at, buffer, length)
        progress.update(stage.ranges.total, this.#reading)
      },
      record: (start, end, checksum) => sink.record(start, end, checksum),
    }
  }

  /** The source that served the last bytes, if any did. */
  get lastSource(): Source | undefined {
    return this.#lastSource
  }

  /** Stops the round in progress with `reason` (e.g. the journal can no longer be written). */
  abort(reason: unknown): void {
    this.#round?.abort(reason)
  }

  /** Fetches until the stage holds the whole file; starts over at most {@link MAX_RESTARTS} times. */
  async run(): Promise<void> {
    const { stage } = this.#ctx
    for (let restarts = 0; ; restarts++) {
      this.#scheduler = new SegmentScheduler(stage.ranges.gaps(stage.size), D.DEFAULT_MIN_SEGMENT_BYTES)
      if (this.#scheduler.done) return
      try {
        await this.#runRound()
        return
      } catch (err) {
        if (!(err instanceof RestartSignal) || restarts >= MAX_RESTARTS) throw err
        this.#ctx.emit({ event: 'retry', attempt: restarts + 2, delayMs: 0, reason: err.message, source: this.#ctx.primary.label })
        await this.#startOver(undefined)
      }
    }
  }

  async #startOver(info: RemoteInfo | undefined): Promise<void> {
    await this.#ctx.startOver(info)
    this.#preflightDone = false
  }

  async #runRound(): Promise<void> {
    const master = this.#ctx.signal
    const round = new AbortController()
    this.#round = round
    const onAbort = (): void => round.abort(master.reason)
    master.addEventListener('abort', onAbort, { once: true })
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
      for (let i = 1; i < this.#ctx.options.connections; i++) start()
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
      master.removeEventListener('abort', onAbort)
    }
    if (failure !== undefined) throw failure
    if (master.aborted) throw this.#ctx.aborted()
  }

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
    const { pool, primary } = this.#ctx
    while (segment.pos < segment.end) {
      if (signal.aborted) throw this.#abortReason(signal)
      const pick = pool.pick()
      if ('waitMs' in pick) {
        await sleep(Math.max(0, pick.waitMs), signal).catch(() => undefined)
        continue
      }
      const source = pick.source
      if (source !== primary && !this.#announced.has(source)) {
        this.#announced.add(source)
        this.#ctx.emit({ event: 'source', source: source.label, reason: this.#lastSource === undefined ? 'segment' : 'failover' })
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
    return this.#ctx.signal.aborted ? this.#ctx.aborted() : signal.reason
  }

  #retryAfterFailure(source: Source, error: HaulError): void {
    const { pool } = this.#ctx
    const maxRetryAfter = D.DEFAULT_MAX_RETRY_AFTER_MS
    if (error.retryAfterMs !== undefined && error.retryAfterMs > maxRetryAfter) {
      error.transient = false
      error.message += ` (the server asked to wait ${Math.round(error.retryAfterMs / 1000)} s, longer than haul waits)`
    }
    const delay = error.retryAfterMs ?? backoffDelay(pool.failures(source) + 1, this.#ctx.options.backoff)
    const { attempt } = pool.fail(source, error, delay)
    const next = pool.pick() // throws the final error when every source is out
    const delayMs = 'waitMs' in next ? Math.max(0, next.waitMs) : 0
    this.#ctx.emit({ event: 'retry', attempt: attempt + 1, delayMs, reason: error.message, source: source.label })
    if ('source' in next && next.source !== source) {
      this.#announced.add(next.source)
      this.#ctx.emit({ event: 'source', source: next.source.label, reason: `failover from ${source.label}` })
    }
  }

  /** One read from one source into one segment. */
  async #read(segment: Segment, source: Source, roundSignal: AbortSignal): Promise<void> {
    const { options, pool, stage, progress } = this.#ctx
    const controller = new AbortController()
    const onRoundAbort = (): void => controller.abort(roundSignal.reason)
    roundSignal.addEventListener('abort', onRoundAbort, { once: true })
    const dog = new StallWatchdog(controller, options.stallTimeoutMs, options.lowSpeedBytesPerSecond, options.lowSpeedWindowMs)
    const started = Date.now()
    let received = 0
    let ttfb: number | undefined
    let writer: SegmentWriter | undefined
    const loan = new BufferLoan(this.#sink.pool)
    pool.begin(source)
    this.#reading++
    try {
      const validator = stage.head.validators[source.label]
      const response = await source.read({
        offset: segment.pos,
        ...(segment.end === Number.POSITIVE_INFINITY ? {} : { end: segment.end }),
        ...(validator === undefined ? {} : { validator }),
        signal: controller.signal,
        // SegmentWriter.push copies every chunk (or takes its lent buffer) before the loop below asks for the next.
        reuseChunks: true,
        buffers: loan,
      })
      ttfb = Date.now() - started
      const iterator = response.body[Symbol.asyncIterator]()
      try {
        await this.#accept(segment, source, response.info, response.offset)
        writer = await SegmentWriter.create(this.#sink, segment.pos, loan)
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
      // Only once the body is done or abandoned (iterator.return() above): the source may write
      // into a lent buffer until then, so one still reading must take its loan along.
      loan.settle()
      dog.stop()
      this.#reading--
      pool.end(source, received, Date.now() - started, ttfb)
      roundSignal.removeEventListener('abort', onRoundAbort)
      progress.update(stage.ranges.total, this.#reading)
    }
  }

  /** Judges a response, then restarts, or learns from it (size, validator) and widens the round. */
  async #accept(segment: Segment, source: Source, info: RemoteInfo, offset: number): Promise<void> {
    const { stage, options } = this.#ctx
    const why = judgeResponse({ source, primary: source === this.#ctx.primary, recorded: stage.head.validators[source.label], info, offset, asked: segment.pos, size: stage.size, expectedSize: options.size })
    if (why !== undefined) {
      if (offset !== 0 || this.#workers.size > 1 || this.#spawned) throw new RestartSignal(why)
      // Bytes fetched before a restart are lost, so they are no progress: bound the restarts.
      if (++this.#inPlaceRestarts > MAX_RESTARTS) throw new HaulError('HAUL_SOURCE', `${why}, for the ${this.#inPlaceRestarts}th time: the source cannot serve the file whole. Try a mirror or later.`, { source: source.label, transient: false })
      // The only connection already has the bytes from 0: start over in place.
      this.#ctx.emit({ event: 'retry', attempt: 1, delayMs: 0, reason: why, source: source.label })
      await this.#startOver(info)
      this.#scheduler = new SegmentScheduler([], D.DEFAULT_MIN_SEGMENT_BYTES)
      segment.pos = 0
      segment.end = stage.size ?? Number.POSITIVE_INFINITY
    }
    if (stage.size === undefined && info.size !== undefined) this.#learnSize(info.size)
    if (segment.end === Number.POSITIVE_INFINITY && stage.size !== undefined) segment.end = stage.size
    if (info.validator !== undefined && stage.head.validators[source.label] !== info.validator) stage.noteValidator(source.label, info.validator)
    if (!this.#preflightDone && stage.size !== undefined) {
      this.#preflightDone = true
      await checkFreeSpace(dirname(options.destination), Math.max(0, stage.size - stage.ranges.total), D.DEFAULT_SPACE_MARGIN_BYTES)
    }
    if (!this.#spawned && options.connections > 1 && info.ranges && stage.size !== undefined) {
      this.#spawned = true
      this.#scheduler.usePieces(pieceBytesFor(stage.size, options.connections))
      this.#spawnMore()
    }
  }

  #learnSize(size: number): void {
    this.#ctx.stage.learnSize(size)
    this.#ctx.progress.total = size
  }
}
