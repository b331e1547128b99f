import * as D from './defaults.js'
import { HaulError, abortedError } from './errors.js'
import type { HaulEvent } from './events.js'
import { ProgressReporter } from './fetch/progress.js'
import { sleep } from './fetch/retry.js'
import { SourcePool } from './fetch/source-pool.js'
import { StallWatchdog } from './fetch/watchdog.js'
import type { DownloadOptions } from './options.js'
import { runFramed } from './run-frame.js'
import type { RemoteInfo, Source } from './source.js'
import { findMismatch, parseExpectedDigests, type ExpectedDigest } from './verify/digest.js'
import { MultiHasher } from './verify/hasher.js'

/** Options for {@link streamDownload}: those of a download that make sense without a file. */
export interface StreamDownloadOptions
  extends Omit<DownloadOptions, 'output' | 'connections' | 'noWait'> {
  /** Where the bytes go, in order, as they arrive (e.g. `process.stdout`). Not ended afterwards. */
  output: NodeJS.WritableStream
  /**
   * The name events give the output.
   * @default '-'
   */
  outputName?: string
}

/** What a finished {@link streamDownload} returns. */
export interface StreamDownloadResult {
  /** Bytes written to the output. */
  bytes: number
  /** Hex SHA-256 of those bytes. */
  sha256: string
  /** The source that served the last bytes. */
  source: string
}

/** Writes to a stream with backpressure, turning its errors (EPIPE…) into HAUL_IO. */
class Sink {
  readonly #stream: NodeJS.WritableStream
  readonly #name: string
  #error: unknown
  #wake: (() => void) | undefined
  readonly #onError = (err: unknown): void => {
    this.#error ??= err
    this.#wake?.()
  }

  constructor(stream: NodeJS.WritableStream, name: string) {
    this.#stream = stream
    this.#name = name
    stream.on('error', this.#onError)
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#check()
    if (!this.#stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
        this.#stream.once('drain', resolve)
      })
      this.#stream.removeListener('drain', this.#wake!)
      this.#wake = undefined
    }
    this.#check()
  }

  #check(): void {
    if (this.#error === undefined) return
    const detail = this.#error instanceof Error ? this.#error.message : String(this.#error)
    throw new HaulError('HAUL_IO', `Could not write to ${this.#name}: ${detail}`, { path: this.#name, cause: this.#error })
  }

  close(): void {
    this.#stream.removeListener('error', this.#onError)
  }
}

/**
 * Downloads into a stream instead of a file (`haul get -o -`): no lock, no staging, no journal.
 * The bytes go out in order as they arrive, hashed on the way; a failed read resumes at the
 * offset already written, from the same or another source, and only when the remote provably
 * still has the same content (the validator it recorded, or an expected digest that the end
 * checks). Written bytes can't be taken back: a digest mismatch is HAUL_INTEGRITY after they
 * went out, and a remote that changed midway fails with HAUL_SOURCE.
 *
 * @param sources the same bytes from one or more places, preferred first
 */
export function streamDownload(sources: ReadonlyArray<Source>, options: StreamDownloadOptions): Promise<StreamDownloadResult> {
  return runFramed(sources, options, (paced, effective, emit) => new StreamRun(paced, effective, emit).run())
}

class StreamRun {
  readonly #sources: ReadonlyArray<Source>
  readonly #options: StreamDownloadOptions
  readonly #emit: (e: HaulEvent) => void
  readonly #expected: ExpectedDigest[]
  readonly #name: string
  readonly #pool: SourcePool
  /** The validator each source (by label) showed, so a resumed read can be conditional on it. */
  readonly #validators = new Map<string, string>()
  readonly #announced = new Set<Source>()
  #size: number | undefined
  #written = 0
  #last: Source | undefined

  constructor(sources: ReadonlyArray<Source>, options: StreamDownloadOptions, emit: (e: HaulEvent) => void) {
    this.#sources = sources
    this.#options = options
    this.#emit = emit
    this.#expected = parseExpectedDigests(options)
    this.#name = options.outputName ?? '-'
    this.#pool = new SourcePool(sources, options.retries ?? D.DEFAULT_RETRIES)
    this.#size = options.size
  }

  async run(): Promise<StreamDownloadResult> {
    const signal = this.#options.signal
    if (signal?.aborted === true) throw abortedError(signal)
    const hasher = await MultiHasher.create(this.#expected.map((e) => e.algorithm))
    const sink = new Sink(this.#options.output, this.#name)
    const progress = new ProgressReporter(this.#emit, D.DEFAULT_PROGRESS_INTERVAL_MS, this.#size)
    const primary = this.#sources[0]!
    this.#emit({ event: 'start', source: primary.id, output: this.#name, ...(this.#size === undefined ? {} : { total: this.#size }), resumedFrom: 0 })
    progress.start()
    try {
      while (this.#size === undefined || this.#written < this.#size) {
        if (this.#stopped()) throw abortedError(signal)
        const pick = this.#pool.pick()
        if ('waitMs' in pick) {
          await sleep(Math.max(0, pick.waitMs), signal).catch(() => undefined)
          continue
        }
        const source = pick.source
        if (source !== primary && !this.#announced.has(source)) {
          this.#announced.add(source)
          this.#emit({ event: 'source', source: source.label, reason: 'failover' })
        }
        try {
          if (await this.#read(source, hasher, sink, progress)) break
        } catch (err) {
          if (this.#stopped()) throw abortedError(signal)
          const { error, attempt, delayMs } = this.#pool.retryAfter(source, err, this.#options.backoff)
          this.#emit({ event: 'retry', attempt, delayMs, reason: error.message, source: source.label })
        }
      }
    } finally {
      progress.update(this.#written, 0)
      progress.stop()
      sink.close()
    }
    const digests = hasher.digest()
    const mismatch = findMismatch(this.#expected, digests)
    if (mismatch !== undefined) {
      throw new HaulError(
        'HAUL_INTEGRITY',
        `The bytes written to ${this.#name} do not match the expected ${mismatch.expected.algorithm} digest (expected ${mismatch.expected.candidates.join(' or ')}, got ${mismatch.actual}). They were written already and can't be taken back: discard what ${this.#name} received.`,
        { source: primary.id, path: this.#name, expected: `${mismatch.expected.algorithm}:${mismatch.expected.candidates[0] ?? ''}`, actual: `${mismatch.expected.algorithm}:${mismatch.actual}` },
      )
    }
    this.#emit({ event: 'done', path: this.#name, bytes: this.#written, sha256: digests.sha256 })
    return { bytes: this.#written, sha256: digests.sha256, source: (this.#last ?? primary).label }
  }

  #stopped(): boolean {
    return this.#options.signal?.aborted === true
  }

  /** One read from `source` onto the output. True when the content is complete. */
  async #read(source: Source, hasher: MultiHasher, sink: Sink, progress: ProgressReporter): Promise<boolean> {
    const controller = new AbortController()
    const signal = this.#options.signal
    const onAbort = (): void => controller.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    const dog = new StallWatchdog(controller, this.#options.stallTimeoutMs ?? D.DEFAULT_STALL_TIMEOUT_MS, this.#options.lowSpeedBytesPerSecond ?? D.DEFAULT_LOW_SPEED_BYTES_PER_SECOND, this.#options.lowSpeedWindowMs ?? D.DEFAULT_LOW_SPEED_WINDOW_MS)
    const started = Date.now()
    let received = 0
    let ttfb: number | undefined
    const validator = this.#validators.get(source.label)
    this.#pool.begin(source)
    try {
      const response = await source.read({ offset: this.#written, ...(validator === undefined ? {} : { validator }), signal: controller.signal })
      ttfb = Date.now() - started
      let skip = this.#accept(source, response.info, response.offset)
      progress.total = this.#size
      this.#last = source
      progress.update(this.#written, 1)
      for await (const chunk of response.body) {
        dog.touch(chunk.length)
        let part = chunk
        if (skip > 0) {
          const dropped = Math.min(skip, part.length)
          skip -= dropped
          part = part.subarray(dropped)
        }
        if (this.#size !== undefined && this.#written + part.length > this.#size) part = part.subarray(0, this.#size - this.#written)
        if (part.length > 0) {
          hasher.update(part)
          await sink.write(part)
          this.#written += part.length
          received += part.length
          progress.update(this.#written, 1)
        }
        if (this.#size !== undefined && this.#written >= this.#size) return true
      }
      if (this.#size === undefined) {
        this.#size = this.#written
        return true
      }
      if (this.#written < this.#size) throw new HaulError('HAUL_SOURCE', `${source.label}: the connection ended at byte ${this.#written}, before byte ${this.#size}`, { source: source.label, transient: true })
      return true
    } catch (err) {
      if (dog.reason !== undefined && signal?.aborted !== true) throw new HaulError('HAUL_SOURCE', `${source.label}: ${dog.reason}`, { source: source.label, transient: true, cause: err })
      throw err
    } finally {
      dog.stop()
      signal?.removeEventListener('abort', onAbort)
      this.#pool.end(source, received, Date.now() - started, ttfb)
    }
  }

  /**
   * Checks a read's answer against what went out already; returns how many leading bytes of
   * its body to drop (a source that could only start over from byte 0).
   */
  #accept(source: Source, info: RemoteInfo, offset: number): number {
    if (offset !== this.#written && offset !== 0) throw new HaulError('HAUL_INTERNAL', `Internal error: ${source.label} answered a read at ${this.#written} with bytes from ${offset}.`)
    const recorded = this.#validators.get(source.label)
    const fail = (why: string): HaulError =>
      new HaulError('HAUL_SOURCE', `${source.label} ${why}${this.#written > 0 ? `; the ${this.#written} bytes already written to ${this.#name} can't be taken back` : ''}. Run again.`, { source: source.label, transient: false })
    if (recorded !== undefined && info.validator !== undefined && info.validator !== recorded) throw fail('changed during the download')
    if (this.#size !== undefined && info.size !== undefined && info.size !== this.#size) throw fail(`has ${info.size} bytes, but the content is ${this.#size} bytes: not the same file`)
    // Starting over is safe only when something proves the content is the one already written.
    if (offset === 0 && this.#written > 0 && !(recorded !== undefined && info.validator === recorded) && this.#expected.length === 0) {
      throw fail('cannot resume and shows nothing that proves its content is unchanged (give --sha256 so that a restart can be checked)')
    }
    if (info.validator !== undefined) this.#validators.set(source.label, info.validator)
    this.#size ??= info.size
    return offset === 0 ? this.#written : 0
  }
}
