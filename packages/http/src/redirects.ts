import type { IncomingHttpHeaders } from 'node:http'
import { HaulError } from '@haul/core'
import { toHaulError } from './errors.js'
import { header } from './headers.js'

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/** One request, before redirects. */
export interface HopRequest {
  method: 'GET' | 'HEAD'
  /** Headers sent to every hop. */
  headers: Record<string, string>
  /** Credentials (Authorization, Cookie…) that a hop may carry; `{}` where none may go. */
  credentialsFor: (url: URL) => Record<string, string>
  maxRedirects: number
  signal: AbortSignal
}

/** A response body as HttpSource uses it: undici's, or the socket fast path's. */
export interface ResponseBody extends AsyncIterable<Uint8Array> {
  /** Reads and drops a small rest (so the connection can be reused); a longer one is cut off. */
  dump(options: { limit: number }): Promise<unknown>
  destroy(error?: Error): unknown
}

/** One hop's response. */
export interface HopResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: ResponseBody
}

/** Sends one request of a redirect chain (no redirects followed). */
export type SendHop = (url: URL, init: { method: 'GET' | 'HEAD'; headers: Record<string, string>; signal: AbortSignal }) => Promise<HopResponse>

/** The response at the end of the redirect chain. */
export interface FinalResponse extends HopResponse {
  url: URL
}

/**
 * Sends `request` and follows redirects itself (undici doesn't by default) so that credentials
 * never leave the original origin and https never downgrades to http.
 */
export async function requestFollowingRedirects(send: SendHop, start: URL, request: HopRequest): Promise<FinalResponse> {
  const visited = new Set<string>()
  let url = start
  for (let hop = 0; ; hop++) {
    visited.add(url.href)
    let res: HopResponse
    try {
      res = await send(url, { method: request.method, headers: { ...request.headers, ...request.credentialsFor(url) }, signal: request.signal })
    } catch (err) {
      throw toHaulError(err, url.href, request.signal)
    }
    const location = header(res.headers, 'location')
    if (!REDIRECT_STATUSES.has(res.statusCode) || location === undefined) {
      return { url, statusCode: res.statusCode, headers: res.headers, body: res.body }
    }
    await discard(res.body)
    const next = redirectTarget(url, location, start)
    if (visited.has(next.href)) {
      throw new HaulError('HAUL_SOURCE', `Redirect loop: ${url.href} leads back to ${next.href}; the server is misconfigured.`, { source: start.href, status: res.statusCode, transient: false })
    }
    if (hop + 1 > request.maxRedirects) {
      throw new HaulError('HAUL_SOURCE', `More than ${request.maxRedirects} redirects from ${start.href}; the server is misconfigured (or raise maxRedirects).`, { source: start.href, status: res.statusCode, transient: false })
    }
    url = next
  }
}

function redirectTarget(from: URL, location: string, start: URL): URL {
  let next: URL
  try {
    next = new URL(location, from)
  } catch (err) {
    throw new HaulError('HAUL_SOURCE', `${from.href} redirects to an invalid URL ${JSON.stringify(location)}.`, { source: start.href, transient: false, cause: err })
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new HaulError('HAUL_SOURCE', `${from.href} redirects to ${next.protocol} URL ${next.href}; haul follows only http and https.`, { source: start.href, transient: false })
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new HaulError('HAUL_SOURCE', `${from.href} redirects from https to plain http (${next.href}); haul refuses the downgrade. Use the http URL directly if you trust it.`, {
      source: start.href,
      transient: false,
    })
  }
  next.hash = ''
  return next
}

/** Releases a response body we don't want, without letting its errors escape. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    await body.dump({ limit: 64 * 1024 })
  } catch {
    body.destroy()
  }
}
