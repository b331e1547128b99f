import { Agent, interceptors, request, type Dispatcher } from 'undici'
import { connectionError, integrityError, statusError } from './errors.js'

/** Media types of the trustless gateway protocol. */
export const CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=y'
export const RAW_ACCEPT = 'application/vnd.ipld.raw'

/** One keep-alive pool for every gateway request of the process; redirects followed (bounded). */
const dispatcher: Dispatcher = new Agent({ keepAliveTimeout: 10_000 }).compose(interceptors.redirect({ maxRedirections: 5 }))

/** A gateway response: its status, its headers, and the body as chunks. */
export interface GatewayResponse {
  status: number
  /** A response header (the first value when repeated). */
  header(name: string): string | undefined
  /** The body; stream failures become transient errors. */
  chunks: AsyncIterator<Uint8Array>
}

function rethrowAbort(signal: AbortSignal, err: unknown): void {
  if (signal.aborted) throw signal.reason ?? err
}

/**
 * GETs `url` with `accept` (undici's request API: plain Node streams, no WHATWG stream layer in the
 * hot path). Statuses the caller lists in `passStatuses` come back as is; other non-2xx statuses
 * throw (429/5xx transient, others permanent); an HTML page is an integrity error.
 */
export async function gatewayGet(url: string, accept: string, label: string, signal: AbortSignal, passStatuses: readonly number[] = []): Promise<GatewayResponse> {
  let response: Dispatcher.ResponseData
  try {
    response = await request(url, { method: 'GET', headers: { accept, 'accept-encoding': 'identity' }, signal, dispatcher })
  } catch (err) {
    rethrowAbort(signal, err)
    throw connectionError(err, label, url)
  }
  const headers = response.headers
  const header = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()]
    return Array.isArray(value) ? value[0] : value
  }
  const status = response.statusCode
  if (passStatuses.includes(status)) {
    discard(response.body)
    return { status, header, chunks: emptyIterator() }
  }
  if (status < 200 || status > 299) {
    discard(response.body)
    throw statusError(status, header('retry-after') ?? null, url, label)
  }
  if (/^\s*text\/html/i.test(header('content-type') ?? '')) {
    discard(response.body)
    throw integrityError(`Gateway ${label} answered ${url} with an HTML page (HTTP ${status}) instead of verifiable blocks.`, label)
  }
  return { status, header, chunks: bodyIterator(response.body, label, url, signal) }
}

/** Drops a body we won't read; undici reports the destroy as an 'error' event, which is expected here. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined)
  body.destroy()
}

function emptyIterator(): AsyncIterator<Uint8Array> {
  return { next: async () => ({ done: true, value: undefined }) }
}

function bodyIterator(body: Dispatcher.ResponseData['body'], label: string, url: string, signal: AbortSignal): AsyncIterator<Uint8Array> {
  const inner = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  return {
    async next() {
      try {
        return await inner.next()
      } catch (err) {
        rethrowAbort(signal, err)
        throw connectionError(err, label, url)
      }
    },
    async return() {
      discard(body)
      return { done: true, value: undefined }
    },
  }
}
