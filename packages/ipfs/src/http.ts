import { statusError, type Transport } from '@haul/http'
import { integrityError } from './errors.js'

/** Media types of the trustless gateway protocol. */
export const CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=y'
export const RAW_ACCEPT = 'application/vnd.ipld.raw'

/** What a gateway that lacks the content (or refuses the request) lets the user know. */
const GATEWAY_ADVICE = 'the gateway does not have this content or refused the request; another gateway may serve it.'

/** How gateway bodies are read: chunks stay valid while held, and chunked bodies take the fast path. */
const FAST_BODY = { reuseChunks: false, chunked: true } as const

/** A gateway response: its status, its headers, and the body as chunks. */
export interface GatewayResponse {
  status: number
  /** A response header (the first value when repeated). */
  header(name: string): string | undefined
  /** The body; stream failures become transient errors. */
  chunks: AsyncIterator<Uint8Array>
}

/**
 * GETs `url` with `accept` through the download's transport (its proxy, TLS trust, timeouts,
 * User-Agent and trace). Statuses the caller lists in `passStatuses` come back as is; other
 * non-2xx statuses throw (429/5xx transient, others permanent); an HTML page is an integrity error.
 */
export async function gatewayGet(transport: Transport, url: string, accept: string, label: string, signal: AbortSignal, passStatuses: readonly number[] = []): Promise<GatewayResponse> {
  // Chunks are kept as long as the CAR reader wants them (no reuse); a chunked CAR stays on the
  // socket fast path, which is what makes a plain-http gateway quick.
  const response = await transport.request(new URL(url), { method: 'GET', headers: { accept, 'accept-encoding': 'identity' }, signal, source: label, body: FAST_BODY })
  const headers = response.headers
  const header = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()]
    return Array.isArray(value) ? value[0] : value
  }
  const status = response.statusCode
  if (passStatuses.includes(status)) {
    await response.discard()
    return { status, header, chunks: emptyIterator() }
  }
  if (status < 200 || status > 299) {
    await response.discard()
    throw statusError(status, url, { retryAfter: header('retry-after'), source: label, advice: GATEWAY_ADVICE })
  }
  if (/^\s*text\/html/i.test(header('content-type') ?? '')) {
    await response.discard()
    throw integrityError(`Gateway ${label} answered ${url} with an HTML page (HTTP ${status}) instead of verifiable blocks.`, label)
  }
  return { status, header, chunks: response.chunks() }
}

function emptyIterator(): AsyncIterator<Uint8Array> {
  return { next: async () => ({ done: true, value: undefined }) }
}
