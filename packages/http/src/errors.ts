import { STATUS_CODES } from 'node:http'
import { HaulError } from '@haul/core'
import { isTransientStatus, parseRetryAfter } from '@haul/core/driver'

/** Certificate problems won't go away on a retry; everything else on the wire might. */
const PERMANENT_NETWORK_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_INVALID_URL',
  'UND_ERR_INVALID_ARG',
])

/** A HAUL_SOURCE error for an HTTP status that is not a success. */
export function statusError(status: number, url: string, retryAfter: string | undefined, source: string = url): HaulError {
  const text = `${status} ${STATUS_CODES[status] ?? 'Unknown Status'} from ${url}`
  if (isTransientStatus(status)) {
    const retryAfterMs = parseRetryAfter(retryAfter)
    return new HaulError('HAUL_SOURCE', `${text}; the server may recover, so haul retries.`, {
      source,
      status,
      transient: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    })
  }
  return new HaulError('HAUL_SOURCE', `${text}: ${advice(status)}`, { source, status, transient: false })
}

function advice(status: number): string {
  if (status === 401 || status === 407) return 'the server wants credentials; pass them with --header.'
  if (status === 403) return 'access is denied; check the URL and your credentials.'
  if (status === 404 || status === 410) return 'check the URL.'
  return 'the server refused the request; check the URL and headers.'
}

/** A HAUL_SOURCE error for a failure below HTTP: connect, TLS, socket closed mid-body. */
export function networkError(err: unknown, url: string): HaulError {
  if (err instanceof HaulError) return err
  const codes = errorCodes(err)
  const detail = [err instanceof Error ? err.message : String(err), ...codes.filter((c) => !String(err).includes(c))].join(' ')
  const transient = !codes.some((c) => PERMANENT_NETWORK_CODES.has(c))
  return new HaulError('HAUL_SOURCE', `Connection to ${url} failed: ${detail}`, {
    source: url,
    transient,
    cause: err,
  })
}

/**
 * What a read throws once its signal fired. A HaulError reason (core's stall or re-split) comes
 * back unchanged so core recognises its own abort; anything else means the caller gave up.
 */
export function abortError(signal: AbortSignal): HaulError {
  const reason: unknown = signal.reason
  if (reason instanceof HaulError) return reason
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted'
  return new HaulError('HAUL_ABORTED', `Download aborted (${why}); the partial download is kept and the next run resumes it.`, { cause: reason })
}

/** Maps any failure of a request or its body to a HaulError. */
export function toHaulError(err: unknown, url: string, signal: AbortSignal): HaulError {
  if (signal.aborted) return abortError(signal)
  return networkError(err, url)
}

/** The `code`s along the cause chain: undici wraps socket errors and keeps ECONNRESET… on the cause. */
function errorCodes(err: unknown): string[] {
  const codes: string[] = []
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') codes.push(code)
  }
  return codes
}
