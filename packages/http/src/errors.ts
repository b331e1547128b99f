import { createRequire } from 'node:module'
import { HaulError } from '@haul/core'
import { isTransientStatus, parseRetryAfter } from '@haul/core/driver'

/**
 * Certificate verification failures (OpenSSL's names, and Node's for a host name that the
 * certificate does not cover). They won't go away on a retry, and the user can fix them.
 */
const TLS_VERIFY_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** Failures that a retry can't change and that have nothing to do with trust. */
const PERMANENT_NETWORK_CODES = new Set(['ERR_INVALID_URL', 'UND_ERR_INVALID_ARG'])

/** The host name did not resolve: no such name (ENOTFOUND), or the resolver failed for now (EAI_AGAIN). */
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN'])

/** How a failure below HTTP is classified. */
export type NetworkFailure = 'tls' | 'dns' | 'other'

/** What {@link statusError} says about the response. */
export interface StatusFacts {
  /** The `Retry-After` header, when sent. */
  retryAfter?: string | undefined
  /** The `source` fact of the error. @default the URL */
  source?: string
  /** What to do about a permanent refusal. @default advice by status (check the URL, credentials…) */
  advice?: string
}

/**
 * The reason phrase Node knows for `status`. node:http (a dozen modules of Node's own) is loaded
 * when a status needs one, not at every start: haul's plain-http path does not otherwise use it.
 */
export function statusText(status: number): string | undefined {
  return (createRequire(import.meta.url)('node:http') as typeof import('node:http')).STATUS_CODES[status]
}

/**
 * The HAUL_SOURCE error for an HTTP status that is not a success, for every driver: 408, 425,
 * 429 and 5xx (but 501 and 505) are transient with Retry-After; any other status is permanent.
 */
export function statusError(status: number, url: string, facts: StatusFacts = {}): HaulError {
  const text = `${status} ${statusText(status) ?? 'Unknown Status'} from ${url}`
  const source = facts.source ?? url
  if (isTransientStatus(status)) {
    const retryAfterMs = parseRetryAfter(facts.retryAfter)
    return new HaulError('HAUL_SOURCE', `${text}; the server may recover.`, {
      source,
      status,
      transient: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    })
  }
  return new HaulError('HAUL_SOURCE', `${text}: ${facts.advice ?? advice(status)}`, { source, status, transient: false })
}

function advice(status: number): string {
  if (status === 401 || status === 407) return 'the server wants credentials; pass them with --header.'
  if (status === 403) return 'access is denied; check the URL and your credentials.'
  if (status === 404 || status === 410) return 'check the URL.'
  return 'the server refused the request; check the URL and headers.'
}

/** Classifies a failure below HTTP by the `code`s along its cause chain. */
export function classifyNetworkError(err: unknown): NetworkFailure {
  const codes = errorCodes(err)
  if (codes.some((c) => TLS_VERIFY_CODES.has(c))) return 'tls'
  if (codes.some((c) => DNS_CODES.has(c))) return 'dns'
  return 'other'
}

/**
 * A HAUL_SOURCE error for a failure below HTTP: connect, DNS, TLS, socket closed mid-body.
 * A certificate that does not verify is permanent and says how to trust it. A name that does not
 * resolve is transient only while `retryDns` (the transport allows one retry per host).
 */
export function networkError(err: unknown, url: string, source: string = url, retryDns = true): HaulError {
  if (err instanceof HaulError) return err
  const codes = errorCodes(err)
  const message = err instanceof Error ? err.message : String(err)
  const detail = [message, ...codes.filter((c) => !message.includes(c))].join(' ')
  const kind = classifyNetworkError(err)
  if (kind === 'tls') {
    return new HaulError(
      'HAUL_SOURCE',
      `The TLS certificate of ${hostOf(url)} could not be verified (${detail}). If you trust this server, give its CA certificate with --cacert FILE (library: the \`ca\` option) or set NODE_EXTRA_CA_CERTS=FILE; -k/--insecure skips verification (anyone on the path can then read and change the download).`,
      { source, transient: false, cause: err },
    )
  }
  if (kind === 'dns') {
    return new HaulError('HAUL_SOURCE', `Could not resolve the host name of ${url} (${detail}); check it for typos, or your DNS and proxy settings.`, { source, transient: retryDns, cause: err })
  }
  const transient = !codes.some((c) => PERMANENT_NETWORK_CODES.has(c))
  return new HaulError('HAUL_SOURCE', `Connection to ${url} failed: ${detail}`, { source, transient, cause: err })
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
export function toHaulError(err: unknown, url: string, signal: AbortSignal, source?: string): HaulError {
  if (signal.aborted) return abortError(signal)
  return networkError(err, url, source)
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

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}
