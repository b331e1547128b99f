import { DEFAULT_MAX_RETRY_AFTER_MS } from '../defaults.js'
import { HaulError } from '../errors.js'
import type { Source } from '../source.js'
import { backoffDelay, type BackoffOptions } from './retry.js'

/** Per-source bookkeeping: failures, cooldown, health and speed. */
interface SourceState {
  source: Source
  index: number
  /** Failed attempts since this source last made progress. */
  failures: number
  /** Not to be tried again before this time (backoff, Retry-After). */
  cooldownUntil: number
  /** Permanently out for this download, and why. */
  out: HaulError | undefined
  /** Connections currently reading from it. */
  active: number
  /** Bytes and milliseconds of successful transfer, for throughput scoring. */
  bytes: number
  ms: number
  /** Time to first byte of the latest read, ms. */
  ttfbMs: number | undefined
}

/**
 * Rotation and scoring over the sources of one download (mirrors, gateways). A source that
 * failed for good (404, a lie) is out for the rest of the download; one that failed transiently
 * cools down (backoff or Retry-After) while the others serve.
 */
export class SourcePool {
  readonly #states: SourceState[]
  readonly #maxFailures: number

  /** @param retries failed attempts allowed per source without progress before it is out */
  constructor(sources: ReadonlyArray<Source>, retries: number) {
    this.#states = sources.map((source, index) => ({
      source,
      index,
      failures: 0,
      cooldownUntil: 0,
      out: undefined,
      active: 0,
      bytes: 0,
      ms: 0,
      ttfbMs: undefined,
    }))
    this.#maxFailures = retries + 1
  }

  get sources(): ReadonlyArray<Source> {
    return this.#states.map((s) => s.source)
  }

  #state(source: Source): SourceState {
    const state = this.#states.find((s) => s.source === source)
    if (state === undefined) throw new HaulError('HAUL_INTERNAL', 'unknown source')
    return state
  }

  /**
   * The best source to read from now, or the time to wait until one is ready. Throws when
   * every source is out.
   */
  pick(now: number = Date.now()): { source: Source } | { waitMs: number } {
    const alive = this.#states.filter((s) => s.out === undefined)
    if (alive.length === 0) throw this.#exhausted()
    const ready = alive.filter((s) => s.cooldownUntil <= now)
    if (ready.length === 0) return { waitMs: Math.min(...alive.map((s) => s.cooldownUntil)) - now }
    ready.sort((a, b) => score(b) - score(a) || a.active - b.active || a.failures - b.failures || a.index - b.index)
    return { source: ready[0]!.source }
  }

  /** A read from `source` starts. */
  begin(source: Source): void {
    this.#state(source).active++
  }

  /** A read from `source` ended; `bytes` arrived over `ms` after a first byte at `ttfbMs`. */
  end(source: Source, bytes: number, ms: number, ttfbMs?: number): void {
    const s = this.#state(source)
    s.active = Math.max(0, s.active - 1)
    s.bytes += bytes
    s.ms += ms
    if (ttfbMs !== undefined) s.ttfbMs = ttfbMs
    if (bytes > 0) s.failures = 0
  }

  /**
   * Records a failed attempt. Returns the attempt number it ended and whether the source is
   * still usable; the delay is applied as a cooldown on that source.
   */
  fail(source: Source, error: HaulError, delayMs: number, now: number = Date.now()): { attempt: number; usable: boolean } {
    const s = this.#state(source)
    s.failures++
    const attempt = s.failures
    if (error.transient !== true) {
      s.out = error
      return { attempt, usable: false }
    }
    if (s.failures >= this.#maxFailures) {
      // The message of a transient failure says it may pass; say that haul stopped trying.
      s.out = new HaulError(error.code, `${error.message} haul gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}; try again later.`, { source: error.source, status: error.status, attempt, transient: false, cause: error })
      return { attempt, usable: false }
    }
    s.cooldownUntil = Math.max(s.cooldownUntil, now + delayMs)
    return { attempt, usable: true }
  }

  /**
   * One failed read from `source`, by the one policy of every fetch loop: the failure as a
   * HaulError (anything else is a transient HAUL_SOURCE one), thrown on unless it is a source's
   * (HAUL_SOURCE, HAUL_INTEGRITY); a Retry-After longer than haul waits makes it final, else the
   * source cools down for the Retry-After or a backoff. Returns the failure, the attempt it ended,
   * what the pool offers next and how long that is away; throws the final error when every
   * source is out.
   */
  retryAfter(source: Source, err: unknown, backoff?: BackoffOptions): { error: HaulError; attempt: number; next: { source: Source } | { waitMs: number }; delayMs: number } {
    const error = err instanceof HaulError ? err : new HaulError('HAUL_SOURCE', `${source.label}: ${err instanceof Error ? err.message : String(err)}`, { source: source.label, transient: true, cause: err })
    if (error.code !== 'HAUL_SOURCE' && error.code !== 'HAUL_INTEGRITY') throw error
    if (error.retryAfterMs !== undefined && error.retryAfterMs > DEFAULT_MAX_RETRY_AFTER_MS) {
      error.transient = false
      error.message += ` (the server asked to wait ${Math.round(error.retryAfterMs / 1000)} s, longer than haul waits)`
    }
    const { attempt } = this.fail(source, error, error.retryAfterMs ?? backoffDelay(this.failures(source) + 1, backoff))
    const next = this.pick()
    return { error, attempt, next, delayMs: 'waitMs' in next ? Math.max(0, next.waitMs) : 0 }
  }

  /** Consecutive failures of `source` since its last progress. */
  failures(source: Source): number {
    return this.#state(source).failures
  }

  /** The error for "every source failed": integrity if every one lied, else the last source's. */
  #exhausted(): HaulError {
    const errors = this.#states.map((s) => s.out!)
    if (errors.every((e) => e.code === 'HAUL_INTEGRITY')) {
      const names = this.#states.map((s) => s.source.label).join(', ')
      return new HaulError('HAUL_INTEGRITY', `The content did not match: every source (${names}) sent data that failed verification. Nothing was saved.`, {
        source: this.#states[0]?.source.id,
        cause: errors[errors.length - 1],
      })
    }
    if (errors.length === 1) return errors[0]!
    const summary = this.#states.map((s) => `${s.source.label}: ${s.out!.message}`).join('; ')
    const last = errors.find((e) => e.code !== 'HAUL_INTEGRITY') ?? errors[errors.length - 1]!
    return new HaulError('HAUL_SOURCE', `Every source failed. ${summary}`, { source: this.#states[0]?.source.id, status: last.status, cause: last })
  }
}

/** Throughput in bytes/ms, so faster sources win; untried sources get a neutral score. */
function score(s: SourceState): number {
  if (s.ms <= 0) return 0
  return s.bytes / s.ms
}
