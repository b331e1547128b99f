import type { IncomingHttpHeaders } from 'node:http'

/** A request as it goes on the wire (each redirect hop is its own). */
export interface HttpRequestTrace {
  type: 'request'
  method: string
  url: string
  /** The headers sent, names lower-case; credential values are replaced by `[redacted]`. */
  headers: Record<string, string>
}

/** The status line and headers of a response. */
export interface HttpResponseTrace {
  type: 'response'
  method: string
  url: string
  status: number
  /** The headers received, names lower-case; `set-cookie` values are replaced by `[redacted]`. */
  headers: Record<string, string | string[]>
  /** Time from sending the request to its response headers. */
  ms: number
}

/** What `onHttp` sees: the request and response lines of every hop, for a verbose mode. */
export type HttpTrace = HttpRequestTrace | HttpResponseTrace

/** Request headers whose values are secrets (the same rule that keeps them on one origin). */
export const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|auth|token|key|secret|session|password/i

const REDACTED = '[redacted]'

/** Request headers for a trace, secrets hidden: a verbose log gets pasted into bug reports. */
export function redactRequestHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, CREDENTIAL_HEADER.test(name) ? REDACTED : value]))
}

/** Response headers for a trace, cookies hidden. */
export function redactResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name] = name === 'set-cookie' ? REDACTED : value
  }
  return out
}
