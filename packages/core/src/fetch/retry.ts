import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from '../defaults.js'

/** Backoff tuning. */
export interface BackoffOptions {
  /** @default 500 */
  baseMs?: number
  /** @default 30000 */
  capMs?: number
}

/**
 * Exponential backoff with full jitter: a uniformly random delay in [0, min(cap, base·2^n)).
 * Full jitter spreads a fleet of clients that failed together, so they don't retry in lockstep.
 * @param failures consecutive failures so far (1 for the first retry)
 */
export function backoffDelay(failures: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS
  const cap = options.capMs ?? DEFAULT_BACKOFF_CAP_MS
  const exp = Math.min(30, Math.max(0, failures - 1))
  const ceiling = Math.min(cap, base * 2 ** exp)
  return Math.floor(random() * ceiling)
}

/**
 * Parses an HTTP Retry-After value (delta-seconds or HTTP-date) into milliseconds from `now`.
 * Returns undefined for a missing or malformed value; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  if (!/[a-z]/i.test(text)) return undefined
  const when = Date.parse(text)
  if (Number.isNaN(when)) return undefined
  return Math.max(0, when - now)
}

/**
 * Statuses worth retrying: request timeout, too early, too many requests, and every 5xx except
 * 501 (not implemented) and 505 (version not supported), which won't change on a retry.
 */
export function isTransientStatus(status: number): boolean {
  if (status === 408 || status === 425 || status === 429) return true
  return status >= 500 && status <= 599 && status !== 501 && status !== 505
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
