import { dirname } from 'node:path'
import * as D from '../defaults.js'
import { HaulError } from '../errors.js'
import type { HaulEvent } from '../events.js'
import { MAX_RESTARTS, pieceBytesFor, type ResolvedOptions } from '../resolve-options.js'
import type { ReadResponse, RemoteInfo, Source } from '../source.js'
import { checkFreeSpace } from '../stage/preflight.js'
import type { StagedFile } from '../stage/staged-file.js'
import { judgeResponse } from './accept.js'
import { BufferLoan } from './buffer-loan.js'
import type { ProgressReporter } from './progress.js'
import { sleep } from './retry.js'
import { SegmentScheduler, type Segment } from './segments.js'
import { SegmentWriter, type SegmentSink } from './segment-writer.js'
import type { SourcePool } from './source-pool.js'
import { StallWatchdog } from './watchdog.js'

/**
 * A response from byte 0 that goes on as the file's body after a restart, instead of being
 * dropped and asked for again: a 200 where a 206 was asked is a normal answer.
 */
interface CarriedRead {
  readonly source: Source
  readonly response: ReadResponse
  readonly iterator: AsyncIterator<Uint8Array>
  readonly controller: AbortController
  readonly loan: BufferLoan
}

/** Thrown inside a round when the staged bytes must go: the file starts over from 0 in a new round. */
class RestartSignal extends Error {
  constructor(
    reason: string,
    readonly source: Source,
    readonly carry: CarriedRead | undefined,
  ) {
    super(reason)
  }
}

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
  /** The first response was accepted (the size is known if the source told it): time to say `start`. */
  announce(): void
  /** An expected digest is checked before the commit, so it can vouch for staged bytes that no validator does. */
  readonly digest: boolean
  /** Resolves once received bytes can be taken (the hasher is up); awaited before the first write. */
  ready(): Promise<void>
  /** Throws every byte away and starts the file over from byte 0 (with what the source said, if it said anything). */
  startOver(info: RemoteInfo | undefined): Promise<void>
}

/**
 * The fetch stage: fills the stage's gaps in rounds. A round runs workers (one, then up to
 * `connections` once a source shows it serves ranges) that take segments from the scheduler and
 * fill each one, retrying and rotating sources; each response is judged before its bytes are
 * written (refused, accepted, or the whole file starts over in a new round).
 *
 * Bytes from two responses only end up side by side in the file when something shows they are
 * of one version of it: a validator (see {@link judgeResponse}), or an expected digest checked
 * before the commit. So without either, the download stays on one connection and a dropped one
 * starts over; and staged bytes from an earlier run are kept only when the first answer of this
 * run vouches for them, whatever URL, mirror or query it comes from. Never a splice.
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
  #restarts = 0
  /** A validator has shown the staged bytes to be of the version the sources serve. */
  #vouched = false
  /** An expected digest vouches for staged bytes instead (until it failed to). */
  #digestVouches: boolean
  /** Some bytes were combined on the digest's word alone. */
  #reliedOnDigest = false
  /** After a source answered a range with the whole file, the download continues on that answer alone. */
  #singleStream = false

  constructor(ctx: FetchContext) {
    this.#ctx = ctx
    this.#digestVouches = ctx.digest
    const { sink, stage, progress } = ctx
    this.#sink = {
      pool: sink.pool,
      checkpointBytes: sink.checkpointBytes,
      writeAt: (buffer, length, at) => sink.writeAt(buffer, length, at),
      written: (at, buffer, length) => {
        sink.written(at, buffer, length)
        progress.update(stage.ranges.total, this.#reading)
      },
      landed: (at, length) => {
        sink.landed(at, length)
        progress.update(stage.ranges.total, this.#reading)
      },
      record: (start, end) => sink.record(start, end),
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

  /** Whether the file started over (the bytes staged before are gone). */
  get restarted(): boolean {
    return this.#restarts > 0
  }

  /** Whether bytes were combined with no validator to vouch for them, on the expected digest's word alone. */
  get reliedOnDigest(): boolean {
    return this.#reliedOnDigest
  }

  /**
   * Fetches until the stage holds the whole file. Staged bytes that nothing could ever vouch for
   * (no validator recorded, no digest) go first, before a request is spent on them.
   */
  async run(): Promise<void> {
    const { stage } = this.#ctx
    if (this.#unproven && !this.#digestVouches && Object.keys(stage.head.validators).length === 0) {
      await this.restart('the staged bytes were fetched without a validator (ETag, Last-Modified) or a digest, so nothing can show they belong to the file served now')
    }
    let carry: CarriedRead | undefined
    for (;;) {
      this.#scheduler = new SegmentScheduler(stage.ranges.gaps(stage.size), D.DEFAULT_MIN_SEGMENT_BYTES)
      if (this.#scheduler.done) return
      try {
        await this.#runRound(carry)
        return
      } catch (err) {
        if (!(err instanceof RestartSignal)) throw err
        carry = err.carry
        try {
          await this.restart(err.message, err.source, carry?.response.info)
        } catch (failure) {
          await carry?.iterator.return?.().catch(() => undefined)
          throw failure
        }
      }
    }
  }

  /**
   * Throws every staged byte away and starts the file over from byte 0, saying so with a
   * `restart` event. After {@link MAX_RESTARTS} of them the download fails: the file keeps
   * changing, or the server can't serve it consistently.
   * @param trustDigest whether the expected digest may still vouch for combined bytes (false after it failed to)
   */
  async restart(reason: string, source: Source = this.#ctx.primary, info?: RemoteInfo, trustDigest = this.#digestVouches): Promise<void> {
    const { stage, emit, startOver } = this.#ctx
    if (++this.#restarts > MAX_RESTARTS) {
      throw new HaulError('HAUL_SOURCE', `${reason}; haul started the file over ${MAX_RESTARTS} times already and gives up: it keeps changing, or the server can't serve it consistently. Try again later, or from a mirror.`, { source: source.label, transient: false })
    }
    emit({ event: 'restart', reason, discarded: stage.ranges.total, source: source.label })
    await startOver(info)
    this.#preflightDone = false
    this.#vouched = false
    this.#reliedOnDigest = false
    this.#digestVouches = trustDigest
  }

  /** Staged bytes that no validator has vouched for. */
  get #unproven(): boolean {
    return !this.#vouched && this.#ctx.stage.ranges.total > 0
  }

  /**
   * The validator a read is made conditional on: the one recorded for this source; while the
   * staged bytes wait for a vouch, one recorded for another (a URL with an older query, a mirror),
   * so that the source serves the range only if it is that same version.
   */
  #validatorFor(source: Source): string | undefined {
    const validators = this.#ctx.stage.head.validators
    const own = validators[source.label]
    if (own !== undefined || !this.#unproven) return own
    return validators[this.#ctx.stage.head.source] ?? Object.values(validators)[0]
  }

  async #runRound(carry: CarriedRead | undefined): Promise<void> {
    const master = this.#ctx.signal
    const round = new AbortController()
    this.#round = round
    const onAbort = (): void => round.abort(master.reason)
    master.addEventListener('abort', onAbort, { once: true })
    this.#spawned = false
    this.#workers = new Set()
    let failure: unknown
    const start = (carried?: CarriedRead): void => {
      const p: Promise<void> = this.#worker(round.signal, carried).catch((err: unknown) => {
        if (failure === undefined) failure = err
        round.abort(err)
      })
      this.#workers.add(p)
    }
    this.#spawnMore = () => {
      for (let i = 1; i < this.#ctx.options.connections; i++) start()
    }
    start(carry)
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

  async #worker(signal: AbortSignal, carried: CarriedRead | undefined): Promise<void> {
    for (let carry = carried; ; carry = undefined) {
      if (signal.aborted) {
        await carry?.iterator.return?.().catch(() => undefined)
        return
      }
      const segment = this.#scheduler.take()
      if (segment === undefined) return
      try {
        await this.#fill(segment, signal, carry)
      } finally {
        this.#scheduler.release(segment)
      }
    }
  }

  /** Fills one segment, retrying and rotating sources until it is complete; `carried` is its first response. */
  async #fill(segment: Segment, signal: AbortSignal, carried: CarriedRead | undefined): Promise<void> {
    const { pool, primary } = this.#ctx
    for (let carry = carried; segment.pos < segment.end; carry = undefined) {
      if (signal.aborted) throw this.#abortReason(signal)
      const pick = carry === undefined ? pool.pick() : { source: carry.source }
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
        await this.#read(segment, source, signal, carry)
      } catch (err) {
        if (err instanceof RestartSignal) throw err
        if (signal.aborted && !(err instanceof HaulError && err.code !== 'HAUL_ABORTED')) throw this.#abortReason(signal)
        this.#retryAfterFailure(source, err)
      }
    }
  }

  #abortReason(signal: AbortSignal): unknown {
    return this.#ctx.signal.aborted ? this.#ctx.aborted() : signal.reason
  }

  #retryAfterFailure(source: Source, err: unknown): void {
    const { error, attempt, next, delayMs } = this.#ctx.pool.retryAfter(source, err, this.#ctx.options.backoff)
    this.#ctx.emit({ event: 'retry', attempt, delayMs, reason: error.message, source: source.label })
    if ('source' in next && next.source !== source) {
      this.#announced.add(next.source)
      this.#ctx.emit({ event: 'source', source: next.source.label, reason: `failover from ${source.label}` })
    }
  }

  /** One read from one source into one segment (or, after a restart, the carried answer of one). */
  async #read(segment: Segment, source: Source, roundSignal: AbortSignal, carried: CarriedRead | undefined): Promise<void> {
    const { options, pool, stage, progress } = this.#ctx
    const controller = carried?.controller ?? new AbortController()
    const onRoundAbort = (): void => controller.abort(roundSignal.reason)
    roundSignal.addEventListener('abort', onRoundAbort, { once: true })
    const dog = new StallWatchdog(controller, options.stallTimeoutMs, options.lowSpeedBytesPerSecond, options.lowSpeedWindowMs)
    const started = Date.now()
    let received = 0
    let ttfb: number | undefined
    let writer: SegmentWriter | undefined
    // A carried answer keeps the loan its body reads into.
    const loan = carried?.loan ?? new BufferLoan(this.#sink.pool, options.gatherBuffers)
    let handedOn = false
    pool.begin(source)
    this.#reading++
    try {
      const sent = carried === undefined ? this.#validatorFor(source) : undefined
      const asking =
        carried === undefined
          ? source.read({
              offset: segment.pos,
              ...(segment.end === Number.POSITIVE_INFINITY ? {} : { end: segment.end }),
              ...(sent === undefined ? {} : { validator: sent }),
              signal: controller.signal,
              // SegmentWriter.push copies every chunk (or takes its lent buffer) before the loop below asks for the next.
              reuseChunks: true,
              buffers: loan,
            })
          : undefined
      // What the first bytes need (the hash thread) gets ready while the request is on its way,
      // not before it is sent, nor after the answer came.
      this.#ctx.ready().catch(() => undefined)
      const response = carried?.response ?? (await asking!)
      ttfb = Date.now() - started
      const iterator = carried?.iterator ?? response.body[Symbol.asyncIterator]()
      try {
        const restart = await this.#accept(segment, source, response, sent)
        if (restart !== undefined) {
          // An answer from byte 0 goes on as the body in the next round (the others stop).
          handedOn = response.offset === 0
          throw new RestartSignal(restart, source, handedOn ? { source, response, iterator, controller, loan } : undefined)
        }
        writer = SegmentWriter.create(this.#sink, segment.pos, loan)
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
        if (!handedOn) await iterator.return?.().catch(() => undefined)
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
      // into a lent buffer until then, so one still reading (handed on) takes its loan along.
      if (!handedOn) loan.settle()
      dog.stop()
      this.#reading--
      pool.end(source, received, Date.now() - started, ttfb)
      roundSignal.removeEventListener('abort', onRoundAbort)
      progress.update(stage.ranges.total, this.#reading)
    }
  }

  /**
   * Judges a response; returns why the file must start over, or learns from it (size,
   * validator, whether it vouches for the staged bytes) and widens the round.
   */
  async #accept(segment: Segment, source: Source, response: ReadResponse, sent: string | undefined): Promise<string | undefined> {
    const { stage, options } = this.#ctx
    const { info, offset } = response
    const unproven = this.#unproven
    const verdict = judgeResponse({
      source,
      primary: source === this.#ctx.primary,
      recorded: stage.head.validators[source.label],
      known: new Set(Object.values(stage.head.validators)),
      sent,
      unproven,
      digest: this.#digestVouches,
      info,
      offset,
      asked: segment.pos,
      size: stage.size,
      expectedSize: options.size,
    })
    if (verdict.restart !== undefined) {
      // Whatever else this round fetches would have to be judged against the answer that goes on: stop it.
      if (offset === 0) this.#singleStream = true
      return verdict.restart
    }
    if (verdict.vouchedBy === 'validator' || (stage.ranges.total === 0 && info.validator !== undefined)) this.#vouched = true
    else if (verdict.vouchedBy === 'digest') this.#reliedOnDigest = true
    if (stage.size === undefined && info.size !== undefined) this.#learnSize(info.size)
    if (segment.end === Number.POSITIVE_INFINITY && stage.size !== undefined) segment.end = stage.size
    if (info.validator !== undefined && stage.head.validators[source.label] !== info.validator) stage.noteValidator(source.label, info.validator)
    this.#ctx.announce()
    await this.#ctx.ready()
    if (!this.#preflightDone && stage.size !== undefined) {
      this.#preflightDone = true
      await checkFreeSpace(dirname(options.destination), Math.max(0, stage.size - stage.ranges.total), D.DEFAULT_SPACE_MARGIN_BYTES)
    }
    // More connections only when their answers can be shown to be of the same version.
    const combinable = this.#vouched || this.#digestVouches
    if (!this.#spawned && !this.#singleStream && combinable && options.connections > 1 && info.ranges && stage.size !== undefined) {
      this.#spawned = true
      this.#scheduler.usePieces(pieceBytesFor(stage.size, options.connections))
      this.#spawnMore()
    }
    return undefined
  }

  #learnSize(size: number): void {
    this.#ctx.stage.learnSize(size)
    this.#ctx.progress.total = size
  }
}
