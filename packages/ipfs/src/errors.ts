import { HaulError } from '@haul/core'
import { isTransientStatus, parseRetryAfter } from '@haul/core/driver'

/** The gateway sent bytes that do not prove what they claim: drop it for the rest of the download. */
export function integrityError(message: string, source: string, cause?: unknown): HaulError {
  return new HaulError('HAUL_INTEGRITY', message, { source, transient: false, ...(cause === undefined ? {} : { cause }) })
}

/** A refusal by status: 429/5xx are transient (with Retry-After), 404/410 and other 4xx permanent. */
export function statusError(status: number, retryAfter: string | null, url: string, source: string): HaulError {
  const transient = isTransientStatus(status)
  const retryAfterMs = parseRetryAfter(retryAfter)
  const what = status === 404 || status === 410 ? 'does not have the content' : transient ? 'is busy or failing' : 'refused the request'
  return new HaulError('HAUL_SOURCE', `Gateway ${source} ${what} (HTTP ${status} for ${url}).`, {
    source,
    status,
    transient,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  })
}

/** A connection that failed or broke mid-body: trying again (here or elsewhere) may help. */
export function connectionError(err: unknown, source: string, url: string): HaulError {
  if (err instanceof HaulError) return err
  const detail = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err)
  return new HaulError('HAUL_SOURCE', `Connection to gateway ${source} failed (${detail}) while fetching ${url}.`, { source, transient: true, cause: err })
}
