import { HaulError, type ReadRequest, type ReadResponse, type RemoteInfo, type Source } from '@haul/core'
import type { Dispatcher } from 'undici'
import { discard } from './body.js'
import { parseContentDisposition } from './content-disposition.js'
import { DEFAULT_HEADERS } from './defaults.js'
import { statusError } from './errors.js'
import { FIRST_ANSWER_MAX_BYTES, FirstAnswer } from './first-answer.js'
import { acceptsRanges, contentLength, encodingOf, header, parseContentRange } from './headers.js'
import { CREDENTIAL_HEADER } from './trace.js'
import { createTransport, type Transport, type TransportOptions, type TransportRequest, type TransportResponse } from './transport.js'
import { ifRangeFor, sameVersion, serverClockOffset, validatorOf } from './validators.js'

/** How a read's body may use memory (ReadRequest's reuseChunks and buffers). */
type BodyMemory = NonNullable<TransportRequest['body']>

/** Options for one {@link HttpSource}: the transport's (proxy, TLS, timeouts…) plus its own. */
export interface HttpSourceOptions extends TransportOptions {
  /**
   * Extra request headers. Credentials among them (Authorization, Cookie, Proxy-Authorization,
   * and any name containing auth, token, key, secret, session or password) go only to
   * `credentialsOrigin`, never to a redirect target or mirror elsewhere.
   * @default {}
   */
  headers?: Record<string, string>
  /**
   * The one origin (`https://host:port`) that credentials from `headers` may be sent to. A mirror
   * passes its main URL's origin here, so a token meant for the main host never reaches the mirror.
   * Credentials in the URL itself (`user:pass@`) always go to that URL's own origin only.
   * @default the origin of `url`
   */
  credentialsOrigin?: string
  /**
   * The transport to send through, shared with other sources (one connection pool per origin);
   * the caller keeps ownership: close() leaves it open, and the transport options above are
   * then the transport's own.
   * @default a transport of the source's own, built from the options above
   */
  transport?: Transport
  /**
   * An undici dispatcher for the source's own transport to send through instead of its pool
   * (proxy, TLS and timeout options then don't apply). The caller keeps ownership.
   * @default undefined (the transport's pool)
   */
  dispatcher?: Dispatcher
  /**
   * An answer to this URL's whole-file GET, sent ahead to name the file ({@link openNamed}): the
   * first read from byte 0 takes its body instead of asking again; any other read drops it.
   * @default undefined
   */
  answer?: FirstAnswer
}

/**
 * One HTTP(S) URL as a {@link Source}. Each read is a single attempt (core owns retries): a GET
 * with `Accept-Encoding: identity`, and `Range` + `If-Range` when resuming or reading a segment.
 *
 * A read never returns bytes that could be spliced onto different content: when the server
 * answers a range with a 200, with 416, or with a 206 whose validator or total differs from what
 * was recorded, the read returns the current content whole from offset 0. A 206 whose
 * Content-Range does not start and end where asked means the server can't do ranges: that read
 * fails as transient and the source stops asking for ranges (`info.ranges` becomes false), so the
 * next read fetches from 0.
 */
export class HttpSource implements Source {
  readonly id: string
  readonly label: string
  readonly url: URL
  readonly #transport: Transport
  readonly #ownsTransport: boolean
  readonly #headers: Record<string, string>
  readonly #headerCredentials: Record<string, string>
  readonly #urlCredentials: Record<string, string>
  readonly #credentialsOrigin: string
  #info: RemoteInfo = { ranges: false }
  #contentType: string | undefined
  #rangesBroken = false
  /** The server's clock minus ours, from the last Date header; judges how old a Last-Modified is. */
  #clockOffsetMs = 0
  #closing: Promise<void> | undefined
  readonly #answer: FirstAnswer | undefined

  constructor(url: string | URL, options: HttpSourceOptions = {}) {
    const parsed = new URL(url)
    parsed.hash = ''
    const headers: Record<string, string> = {}
    const headerCredentials: Record<string, string> = {}
    const urlCredentials: Record<string, string> = {}
    if (parsed.username !== '' || parsed.password !== '') {
      const user = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`
      urlCredentials.authorization = `Basic ${Buffer.from(user).toString('base64')}`
      parsed.username = ''
      parsed.password = ''
    }
    for (const [name, value] of Object.entries(options.headers ?? DEFAULT_HEADERS)) {
      const key = name.toLowerCase()
      if (CREDENTIAL_HEADER.test(key)) headerCredentials[key] = value
      else headers[key] = value
    }
    // The file's bytes, not a compressed rendering of them, whatever the caller's headers say.
    headers['accept-encoding'] = 'identity'
    this.url = parsed
    this.id = parsed.href
    this.label = parsed.href
    this.#headers = headers
    this.#headerCredentials = headerCredentials
    this.#urlCredentials = urlCredentials
    this.#credentialsOrigin = options.credentialsOrigin ?? parsed.origin
    this.#ownsTransport = options.transport === undefined
    this.#transport = options.transport ?? createTransport(options, options.dispatcher)
    this.#answer = options.answer?.url === parsed.href ? options.answer : undefined
  }

  /** What the source has learned about the remote so far. */
  get info(): RemoteInfo {
    return { ...this.#info }
  }

  /** The `Content-Type` of the last {@link probe}'s answer, when it sent one. Untrusted. */
  get contentType(): string | undefined {
    return this.#contentType
  }

  /** HEAD, or a one-byte ranged GET where HEAD is refused (405, 501, and 403 from signed URLs). */
  async probe(signal: AbortSignal): Promise<RemoteInfo> {
    let res = await this.#send('HEAD', {}, signal)
    if (res.statusCode === 403 || res.statusCode === 405 || res.statusCode === 501) {
      await discard(res.body)
      res = await this.#send('GET', { range: 'bytes=0-0' }, signal)
    }
    await discard(res.body)
    this.#contentType = header(res.headers, 'content-type')
    if (res.statusCode === 206) {
      const range = parseContentRange(header(res.headers, 'content-range'))
      this.#learn(res, range?.total, range !== undefined)
    } else if (res.statusCode === 200) {
      this.#learn(res, encodingOf(res.headers) === undefined ? contentLength(res.headers) : undefined, false)
    } else {
      throw statusError(res.statusCode, res.url.href, { retryAfter: header(res.headers, 'retry-after'), source: this.id })
    }
    return this.info
  }

  /**
   * Sends the whole-file GET that a download of this URL would send first, before its
   * destination is known, and keeps the answer for that download ({@link FirstAnswer}): its
   * Content-Disposition names the file. Only a 200 in identity encoding of at most
   * {@link FIRST_ANSWER_MAX_BYTES} (or of unknown length) is kept; any other answer tells
   * nothing (its body is dropped): the download then asks itself and reports what is wrong.
   * Closing the answer closes this source.
   * @throws HaulError as a read would, for what is below HTTP (connect, TLS, abort)
   */
  async openFirst(signal: AbortSignal): Promise<FirstAnswer> {
    // The caller's signal aborts the request until its answer is in; from then on the download
    // that takes the body links its reads' signals to it (FirstAnswer.take).
    const abort = new AbortController()
    const onAbort = (): void => abort.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    let res: TransportResponse
    try {
      signal.throwIfAborted()
      res = await this.#send('GET', {}, abort.signal, { reuseChunks: true })
    } catch (err) {
      await this.close()
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    const ok = res.statusCode === 200 && encodingOf(res.headers) === undefined
    const length = contentLength(res.headers)
    const kept = ok && (length === undefined || length <= FIRST_ANSWER_MAX_BYTES)
    if (!kept) await discard(res.body)
    const fileName = ok ? parseContentDisposition(header(res.headers, 'content-disposition'))?.fileName : undefined
    const contentType = ok ? header(res.headers, 'content-type') : undefined
    return new FirstAnswer(this.url.href, kept ? res : undefined, { ...(fileName === undefined ? {} : { fileName }), ...(contentType === undefined ? {} : { contentType }) }, abort, () => this.close())
  }

  /**
   * One GET: the whole file, or `Range: bytes=offset-(end-1)` with `If-Range: validator`. Answers
   * `offset: 0` with the current content whole when the server did not (or must not) serve the
   * range. Errors are HaulErrors; `transient` says whether another attempt may help.
   */
  async read({ offset, end, validator, signal, reuseChunks = false, buffers }: ReadRequest): Promise<ReadResponse> {
    const body: BodyMemory = { reuseChunks, ...(buffers === undefined ? {} : { buffers }) }
    const first = this.#answer?.take(signal)
    if (first !== undefined) {
      if (offset === 0 && end === undefined && !this.#rangesBroken) return this.#respondWhole(first)
      await first.discard()
    }
    if (this.#rangesBroken || (offset === 0 && end === undefined)) return this.#readWhole(signal, body)
    const asked = `bytes=${offset}-${end === undefined ? '' : end - 1}`
    const ifRange = validator === undefined ? undefined : ifRangeFor(validator, this.#clockOffsetMs)
    const res = await this.#send('GET', ifRange === undefined ? { range: asked } : { range: asked, 'if-range': ifRange }, signal, body)
    if (res.statusCode === 200) return this.#respondWhole(res)
    if (res.statusCode === 416) {
      // The remote no longer has a byte at `offset`: it changed (shrank). Start over.
      await discard(res.body)
      return this.#readWhole(signal, body)
    }
    if (res.statusCode !== 206) throw await this.#failure(res)

    const contentRange = header(res.headers, 'content-range')
    const range = parseContentRange(contentRange)
    const total = range?.total
    const lastWanted = total === undefined ? undefined : Math.min(end ?? total, total) - 1
    if (range === undefined || total === undefined || range.start !== offset || range.end !== lastWanted) {
      await discard(res.body)
      this.#rangesBroken = true
      this.#info.ranges = false
      throw new HaulError('HAUL_SOURCE', `${res.url.href} answered Range ${asked} with Content-Range ${contentRange ?? '(none)'}; haul stops asking it for ranges and fetches from the start.`, {
        source: this.id,
        status: 206,
        transient: true,
      })
    }
    // The server ignored If-Range, or there was none to send: never hand back a range of other
    // content. A 206 that shows no validator passes only when If-Range vouched for it.
    const changed = (validator !== undefined && !sameVersion(validator, res.headers, ifRange !== undefined)) || (this.#info.size !== undefined && total !== this.#info.size)
    if (changed) {
      await discard(res.body)
      return this.#readWhole(signal, body)
    }
    // Shown to be of the version `validator` names (like compared with like): it stays the one
    // reported, though the server may now show one of another kind too (Apache's ETag turns
    // strong a second after a change, where the date was recorded).
    return this.#respond(res, offset, range.end - range.start + 1, total, validator)
  }

  /** Closes the source's connections, aborting any read still in flight. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#ownsTransport ? this.#transport.close() : Promise.resolve()
    return this.#closing
  }

  /** A plain GET: the whole current content, from 0. */
  async #readWhole(signal: AbortSignal, body: BodyMemory): Promise<ReadResponse> {
    const res = await this.#send('GET', {}, signal, body)
    if (res.statusCode === 200) return this.#respondWhole(res)
    if (res.statusCode === 206) {
      const range = parseContentRange(header(res.headers, 'content-range'))
      if (range !== undefined && range.start === 0 && range.end + 1 === range.total) return this.#respond(res, 0, range.total, range.total)
      await discard(res.body)
      throw new HaulError('HAUL_SOURCE', `${res.url.href} answered a request for the whole file with a partial response; the server is misconfigured.`, {
        source: this.id,
        status: 206,
        transient: false,
      })
    }
    throw await this.#failure(res)
  }

  /** `body`: how a body read for core may use memory; a HEAD or probe has none to read. */
  #send(method: 'GET' | 'HEAD', extra: Record<string, string>, signal: AbortSignal, body: BodyMemory = { reuseChunks: false }): Promise<TransportResponse> {
    return this.#transport.request(this.url, {
      method,
      body,
      headers: { ...this.#headers, ...extra },
      credentialsFor: (url) => ({
        ...(url.origin === this.#credentialsOrigin ? this.#headerCredentials : {}),
        ...(url.origin === this.url.origin ? this.#urlCredentials : {}),
      }),
      signal,
    })
  }

  async #failure(res: TransportResponse): Promise<HaulError> {
    await discard(res.body)
    return statusError(res.statusCode, res.url.href, { retryAfter: header(res.headers, 'retry-after'), source: this.id })
  }

  #respondWhole(res: TransportResponse): Promise<ReadResponse> {
    const length = contentLength(res.headers)
    return this.#respond(res, 0, length, length)
  }

  async #respond(res: TransportResponse, offset: number, length: number | undefined, size: number | undefined, vouched?: string): Promise<ReadResponse> {
    const encoding = encodingOf(res.headers)
    if (encoding !== undefined) {
      await discard(res.body)
      throw new HaulError('HAUL_SOURCE', `${res.url.href} sent the body ${encoding}-compressed although haul asked for identity encoding; the bytes would not be the file. Try another mirror or report it to the server's operator.`, {
        source: this.id,
        status: res.statusCode,
        transient: false,
      })
    }
    this.#learn(res, size, res.statusCode === 206, vouched)
    return { info: this.info, offset, body: res.chunks(length) }
  }

  /** Updates what we know from a successful response (`vouched`: the validator it was shown to match). */
  #learn(res: TransportResponse, size: number | undefined, sawRange: boolean, vouched?: string): void {
    const shown = validatorOf(res.headers)
    const validator = shown === undefined ? undefined : (vouched ?? shown)
    this.#clockOffsetMs = serverClockOffset(res.headers) ?? this.#clockOffsetMs
    const fileName = parseContentDisposition(header(res.headers, 'content-disposition'))?.fileName ?? this.#info.fileName
    this.#info = {
      ranges: !this.#rangesBroken && (sawRange || acceptsRanges(res.headers)),
      ...(size === undefined ? {} : { size }),
      ...(validator === undefined ? {} : { validator }),
      ...(fileName === undefined ? {} : { fileName }),
    }
  }
}
