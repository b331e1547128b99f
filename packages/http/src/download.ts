import { Cache, HaulError, runDownload, type DownloadOptions, type DownloadResult, type HaulEvent } from '@haul/core'
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_HEADERS, DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MIRRORS } from './defaults.js'
import type { FirstAnswer } from './first-answer.js'
import { HttpSource, type HttpSourceOptions } from './http-source.js'
import { createTransport, splitTransportOptions, type TransportOptions } from './transport.js'

/**
 * Options for {@link download}: core's options, the transport's (proxy, TLS, timeouts,
 * User-Agent, redirects, trace) and HTTP's own.
 */
export interface HttpDownloadOptions extends DownloadOptions, TransportOptions {
  /**
   * Other URLs serving the same bytes, tried when the main URL fails. They are checked by size,
   * and by digest when one is given.
   * @default []
   */
  mirrors?: string[]
  /**
   * Extra request headers for every URL. Credentials among them (Authorization, Cookie, API
   * keys and tokens) go only to the main URL's origin: never to a mirror or redirect elsewhere.
   * @default {}
   */
  headers?: Record<string, string>
  /**
   * A cache folder (or {@link Cache}) shared by downloads: a blob with the expected SHA-256 that
   * is already there is linked to `output` with no request; otherwise the blob is downloaded into
   * the cache first. A get without a SHA-256 is never a hit (the cache can't know the bytes
   * before downloading), but files what it fetched for later gets by digest.
   * @default undefined (no cache)
   */
  cache?: string | Cache
  /**
   * The answer to `url`'s GET, sent ahead to name the file (`openNamed`): the download reads its
   * body instead of asking again, and closes it when it ends, used or not. It is dropped, unused,
   * when the download must wait for another process's lock.
   * @default undefined
   */
  answer?: FirstAnswer
}

/**
 * Downloads `url` to `options.output` as one transaction: the verified file ends up at the path,
 * or nothing does. Resumes, retries, rotates to mirrors and splits into segments as configured.
 * @throws HaulError — `HAUL_USAGE` for a URL that is not http(s), before any request.
 */
export async function download(url: string, options: HttpDownloadOptions): Promise<DownloadResult> {
  const { answer } = options
  if (answer === undefined) return downloadUrl(url, options)
  const { onEvent } = options
  try {
    // A body left unread while another process holds the lock only ties up a connection.
    const onEventDropping = (e: HaulEvent): void => {
      if (e.event === 'wait') void answer.close()
      onEvent?.(e)
    }
    return await downloadUrl(url, { ...options, onEvent: onEventDropping })
  } finally {
    await answer.close()
  }
}

async function downloadUrl(url: string, options: HttpDownloadOptions): Promise<DownloadResult> {
  const { transport: given, rest: all } = splitTransportOptions(options)
  const { mirrors = [...DEFAULT_MIRRORS], headers = DEFAULT_HEADERS, cache, answer, ...rest } = all
  const urls = [url, ...mirrors].map(parseHttpUrl)
  checkHeaders(headers)
  // Core aborts stalled reads itself; undici's own timers must never fire first.
  const backstop = 2 * (options.stallTimeoutMs ?? 0)
  // One transport for the main URL and its mirrors: a pool per origin, closed with the download.
  const transport = createTransport({
    ...given,
    headersTimeoutMs: given.headersTimeoutMs ?? Math.max(DEFAULT_HEADERS_TIMEOUT_MS, backstop),
    bodyTimeoutMs: given.bodyTimeoutMs ?? Math.max(DEFAULT_BODY_TIMEOUT_MS, backstop),
  })
  const sourceOptions: HttpSourceOptions = { headers, credentialsOrigin: urls[0]!.origin, transport }
  // Core closes the sources when the transaction ends, so each run gets its own.
  const run = (o: DownloadOptions): Promise<DownloadResult> =>
    runDownload(
      urls.map((u, i) => new HttpSource(u, i === 0 && answer !== undefined ? { ...sourceOptions, answer } : sourceOptions)),
      o,
    )
  try {
    if (cache === undefined) return await run(rest)
    return await (typeof cache === 'string' ? new Cache(cache) : cache).download(rest, run, { id: urls[0]!.href })
  } finally {
    await transport.close()
  }
}

/** Parses an http(s) URL or fails with HAUL_USAGE. */
export function parseHttpUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch (err) {
    throw new HaulError('HAUL_USAGE', `Not a valid URL: ${JSON.stringify(text)}. Give a full http:// or https:// URL.`, { source: text, cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HaulError('HAUL_USAGE', `Unsupported URL scheme ${url.protocol} in ${JSON.stringify(text)}; @haul/http downloads http:// and https:// URLs.`, { source: text })
  }
  return url
}

/** Header names are tokens; values carry no line breaks (which would smuggle extra headers). */
function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(name)) {
      throw new HaulError('HAUL_USAGE', `Invalid header name ${JSON.stringify(name)}; give headers as 'Name: value'.`)
    }
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new HaulError('HAUL_USAGE', `Invalid value for header ${name}: it must be text without line breaks.`)
    }
  }
}
