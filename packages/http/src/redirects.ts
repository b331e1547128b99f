import { HaulError } from '@haul/core'
import type { IncomingHttpHeaders } from 'node:http'
import { discard, type ResponseBody } from './body.js'
import { header } from './headers.js'

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/**
 * Sends a request through `send` (one hop) and follows redirects itself (undici doesn't by
 * default), at most `maxRedirects`, so that the caller can decide per hop which credentials go
 * along and https never downgrades to http. Resolves to the last hop's URL and response.
 */
export async function followRedirects<R extends { statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody }>(start: URL, maxRedirects: number, send: (url: URL) => Promise<R>): Promise<{ url: URL; res: R }> {
  const visited = new Set<string>()
  let url = start
  for (let hop = 0; ; hop++) {
    visited.add(url.href)
    const res = await send(url)
    const location = header(res.headers, 'location')
    if (!REDIRECT_STATUSES.has(res.statusCode) || location === undefined) return { url, res }
    await discard(res.body)
    const next = redirectTarget(url, location, start)
    if (visited.has(next.href)) {
      throw new HaulError('HAUL_SOURCE', `Redirect loop: ${url.href} leads back to ${next.href}; the server is misconfigured.`, { source: start.href, status: res.statusCode, transient: false })
    }
    if (hop + 1 > maxRedirects) {
      throw new HaulError('HAUL_SOURCE', `More than ${maxRedirects} redirects from ${start.href}; the server is misconfigured (or raise maxRedirects).`, { source: start.href, status: res.statusCode, transient: false })
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
