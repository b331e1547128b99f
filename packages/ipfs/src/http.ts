import { statusError, type Transport } from '@haul/http'
import { integrityError } from './errors.js'

/** Media types of the trustless gateway protocol. */
export const CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=y'
export const RAW_ACCEPT = 'application/vnd.ipld.raw'

/** What a gateway that lacks the content (or refuses the request) lets the user know. */
const GATEWAY_ADVICE = 'the gateway does not have this content or refused the request; another gateway may serve it.'

/** A gateway response: its status, its headers, and the body as chunks. */
export interface GatewayResponse {
  status: number
  /** A response header (the first value when repeated). */
  header(name: string): string | undefined
  /** The body; stream failures become transient errors. */
  chunks: AsyncIterator<Uint8Array>
}

/** Options for {@link gatewayGet}. */
export interface GatewayGetOptions {
  /** Statuses that come back as they are instead of throwing. @default none */
  passStatuses?: readonly number[]
  /**
   * The caller is done with a chunk once it asks for the next one, so the chunk's memory may be
   * reused (the socket fast path's read buffers); otherwise every chunk stays valid while held.
   * @default false
   */
  reuseChunks?: boolean
}

/**
 * GETs `url` with `accept` through the download's transport (its proxy, TLS trust, timeouts,
 * User-Agent and trace). Statuses the caller lists in `passStatuses` come back as is; other
 * non-2xx statuses throw (429/5xx transient, others permanent); an HTML page is an integrity error.
 * A plain-http gateway's body comes over the socket fast path, a chunked CAR too.
 */
export async function gatewayGet(transport: Transport, url: string, accept: string, label: string, signal: AbortSignal, options: GatewayGetOptions = {}): Promise<GatewayResponse> {
  const passStatuses = options.passStatuses ?? []
  const body = { reuseChunks: options.reuseChunks ?? false, chunked: true }
  const response = await transport.request(new URL(url), { method: 'GET', headers: { accept, 'accept-encoding': 'identity' }, signal, source: label, body })
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
