import { connectionError, integrityError, statusError } from './errors.js'

/** Media types of the trustless gateway protocol. */
export const CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=y'
export const RAW_ACCEPT = 'application/vnd.ipld.raw'

/** A gateway response whose status was 2xx; `chunks` maps stream failures to transient errors. */
export interface GatewayResponse {
  response: Response
  chunks: AsyncIterator<Uint8Array>
}

function rethrowAbort(signal: AbortSignal, err: unknown): void {
  if (signal.aborted) throw signal.reason ?? err
}

/**
 * GETs `url` with `accept`. Statuses the caller lists in `passStatuses` come back as is; other
 * non-2xx statuses throw (429/5xx transient, others permanent); an HTML page is an integrity error.
 */
export async function gatewayGet(url: string, accept: string, label: string, signal: AbortSignal, passStatuses: readonly number[] = []): Promise<GatewayResponse> {
  let response: Response
  try {
    response = await fetch(url, { headers: { accept, 'accept-encoding': 'identity' }, signal, redirect: 'follow' })
  } catch (err) {
    rethrowAbort(signal, err)
    throw connectionError(err, label, url)
  }
  if (passStatuses.includes(response.status)) {
    await response.body?.cancel().catch(() => undefined)
    return { response, chunks: emptyIterator() }
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel().catch(() => undefined)
    throw statusError(response.status, response.headers.get('retry-after'), url, label)
  }
  const type = response.headers.get('content-type') ?? ''
  if (/^\s*text\/html/i.test(type)) {
    await response.body?.cancel().catch(() => undefined)
    throw integrityError(`Gateway ${label} answered ${url} with an HTML page (HTTP ${response.status}) instead of verifiable blocks.`, label)
  }
  return { response, chunks: bodyIterator(response, label, url, signal) }
}

function emptyIterator(): AsyncIterator<Uint8Array> {
  return { next: async () => ({ done: true, value: undefined }) }
}

function bodyIterator(response: Response, label: string, url: string, signal: AbortSignal): AsyncIterator<Uint8Array> {
  const body = response.body
  if (body === null) return emptyIterator()
  const inner = body[Symbol.asyncIterator]()
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
      await inner.return?.().catch(() => undefined)
      return { done: true, value: undefined }
    },
  }
}
