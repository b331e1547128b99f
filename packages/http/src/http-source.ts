import { HaulError, type BufferLender, type ReadRequest, type ReadResponse, type RemoteInfo, type Source } from '@haul/core'
import type { Dispatcher } from 'undici'
import { parseContentDisposition } from './content-disposition.js'
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEADERS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_USER_AGENT,
} from './defaults.js'
import { statusError, toHaulError } from './errors.js'
import { acceptsRanges, contentLength, encodingOf, header, parseContentRange, validatorOf } from './headers.js'
import { discard, requestFollowingRedirects, type FinalResponse, type HopResponse, type SendHop } from './redirects.js'
import { sharedSocketPool, type SocketPool } from './socket-body.js'

/** Options for one {@link HttpSource}. */
export interface HttpSourceOptions {
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
   * Redirects followed before the read fails.
   * @default 10
   */
  maxRedirects?: number
  /**
   * undici's wait for response headers; a backstop, since core aborts stalls through the signal.
   * @default 300000
   */
  headersTimeoutMs?: number
  /**
   * undici's wait between body bytes; a backstop like `headersTimeoutMs`.
   * @default 300000
   */
  bodyTimeoutMs?: number
  /**
   * Time allowed to open a connection.
   * @default 30000
   */
  connectTimeoutMs?: number
  /**
   * A dispatcher to send through instead of the source's own pool (which honours
   * HTTP_PROXY/HTTPS_PROXY/NO_PROXY). The caller keeps ownership: close() leaves it open.
   * Giving one turns the socket fast path off: every request goes through it.
   */
  dispatcher?: Dispatcher
  /**
   * Connections for the fast path of plain `http:` requests (see socket-body.ts), or `false` to
   * send everything through undici. Pools are shared by sources (a batch keeps its connections
   * alive across files), so close() ends only this source's requests. The fast path is off
   * whenever a proxy variable is set or `dispatcher` is given.
   * @default the process's pool (idle connections close after DEFAULT_KEEP_ALIVE_TIMEOUT_MS)
   */
  sockets?: SocketPool | false
}

/** How a read's body may use memory: ReadRequest's reuseChunks and buffers. */
interface BodyMemory {
  reuseChunks: boolean
  buffers?: BufferLender
}

const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|auth|token|key|secret|session|password/i
const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']

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
  readonly #options: HttpSourceOptions
  /** undici, loaded and set up on first use: a plain http download may never need it. */
  #dispatcher: Promise<Dispatcher> | undefined
  readonly #sockets: SocketPool | undefined
  /** Fires at close(), ending this source's requests on the shared fast-path connections. */
  readonly #closed = new AbortController()
  readonly #headers: Record<string, string>
  readonly #headerCredentials: Record<string, string>
  readonly #urlCredentials: Record<string, string>
  readonly #credentialsOrigin: string
  readonly #maxRedirects: number
  #info: RemoteInfo = { ranges: false }
  #rangesBroken = false
  #closing: Promise<void> | undefined

  constructor(url: string | URL, options: HttpSourceOptions = {}) {
    const parsed = new URL(url)
    parsed.hash = ''
    const headers: Record<string, string> = { 'user-agent': DEFAULT_USER_AGENT }
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
    this.#maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS
    this.#options = options
    if (options.dispatcher !== undefined) this.#dispatcher = Promise.resolve(options.dispatcher)
    const fast = options.sockets !== false && options.dispatcher === undefined && !PROXY_VARIABLES.some((name) => (process.env[name] ?? '') !== '')
    this.#sockets = fast ? (options.sockets || sharedSocketPool()) : undefined
  }

  /** What the source has learned about the remote so far. */
  get info(): RemoteInfo {
    return { ...this.#info }
  }

  /** HEAD, or a one-byte ranged GET where HEAD is refused (405, 501, and 403 from signed URLs). */
  async probe(signal: AbortSignal): Promise<RemoteInfo> {
    let res = await this.#send('HEAD', {}, signal)
    if (res.statusCode === 403 || res.statusCode === 405 || res.statusCode === 501) {
      await discard(res.body)
      res = await this.#send('GET', { range: 'bytes=0-0' }, signal)
    }
    await discard(res.body)
    if (res.statusCode === 206) {
      const range = parseContentRange(header(res.headers, 'content-range'))
      this.#learn(res, range?.total, range !== undefined)
    } else if (res.statusCode === 200) {
      this.#learn(res, encodingOf(res.headers) === undefined ? contentLength(res.headers) : undefined, false)
    } else {
      throw statusError(res.statusCode, res.url.href, header(res.headers, 'retry-after'), this.id)
    }
    return this.info
  }

  /**
   * One GET: the whole file, or `Range: bytes=offset-(end-1)` with `If-Range: validator`. Answers
   * `offset: 0` with the current content whole when the server did not (or must not) serve the
   * range. Errors are HaulErrors; `transient` says whether another attempt may help.
   */
  async read({ offset, end, validator, signal, reuseChunks = false, buffers }: ReadRequest): Promise<ReadResponse> {
    const memory: BodyMemory = { reuseChunks, ...(buffers === undefined ? {} : { buffers }) }
    if (this.#rangesBroken || (offset === 0 && end === undefined)) return this.#readWhole(signal, memory)
    const asked = `bytes=${offset}-${end === undefined ? '' : end - 1}`
    const conditional = validator !== undefined && !validator.startsWith('W/')
    const res = await this.#send('GET', conditional ? { range: asked, 'if-range': validator } : { range: asked }, signal, memory)
    if (res.statusCode === 200) return this.#respondWhole(res, signal)
    if (res.statusCode === 416) {
      // The remote no longer has a byte at `offset`: it changed (shrank). Start over.
      await discard(res.body)
      return this.#readWhole(signal, memory)
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
    // The server ignored If-Range (or there was none to send): never hand back a range of other
    // content. A 206 that carries no validator at all is judged by its total alone.
    const current = validatorOf(res.headers)
    const changed = (validator !== undefined && current !== undefined && current !== validator) || (this.#info.size !== undefined && total !== this.#info.size)
    if (changed) {
      await discard(res.body)
      return this.#readWhole(signal, memory)
    }
    return this.#respond(res, offset, range.end - range.start + 1, total, signal)
  }

  /** Closes the source's connections, aborting any read still in flight. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(Object.assign(new Error(`the source ${this.id} was closed`), { code: 'UND_ERR_DESTROYED' }))
      if (this.#options.dispatcher === undefined && this.#dispatcher !== undefined) await (await this.#dispatcher).destroy()
    })()
    return this.#closing
  }

  /** A plain GET: the whole current content, from 0. */
  async #readWhole(signal: AbortSignal, memory: BodyMemory): Promise<ReadResponse> {
    const res = await this.#send('GET', {}, signal, memory)
    if (res.statusCode === 200) return this.#respondWhole(res, signal)
    if (res.statusCode === 206) {
      const range = parseContentRange(header(res.headers, 'content-range'))
      if (range !== undefined && range.start === 0 && range.end + 1 === range.total) return this.#respond(res, 0, range.total, range.total, signal)
      await discard(res.body)
      throw new HaulError('HAUL_SOURCE', `${res.url.href} answered a request for the whole file with a partial response; the server is misconfigured.`, {
        source: this.id,
        status: 206,
        transient: false,
      })
    }
    throw await this.#failure(res)
  }

  #send(method: 'GET' | 'HEAD', extra: Record<string, string>, signal: AbortSignal, memory: BodyMemory = { reuseChunks: false }): Promise<FinalResponse> {
    return requestFollowingRedirects(this.#hop(memory), this.url, {
      method,
      headers: { ...this.#headers, ...extra },
      credentialsFor: (url) => ({
        ...(url.origin === this.#credentialsOrigin ? this.#headerCredentials : {}),
        ...(url.origin === this.url.origin ? this.#urlCredentials : {}),
      }),
      maxRedirects: this.#maxRedirects,
      signal,
    })
  }

  /** Sends one hop: on the socket fast path when it takes the request and its response, else through undici. */
  #hop(memory: BodyMemory): SendHop {
    return async (url, init): Promise<HopResponse> => {
      if (this.#sockets !== undefined && url.protocol === 'http:') {
        const res = await this.#sockets.request({
          url,
          ...init,
          signal: AbortSignal.any([init.signal, this.#closed.signal]),
          connectTimeoutMs: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          ioTimeoutMs: Math.max(this.#options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, this.#options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS),
          ...memory,
        })
        if (res !== undefined) return res
      }
      this.#dispatcher ??= createDispatcher(this.#options)
      const dispatcher = await this.#dispatcher
      return dispatcher.request({ origin: url.origin, path: url.pathname + url.search, ...init })
    }
  }

  async #failure(res: FinalResponse): Promise<HaulError> {
    await discard(res.body)
    return statusError(res.statusCode, res.url.href, header(res.headers, 'retry-after'), this.id)
  }

  #respondWhole(res: FinalResponse, signal: AbortSignal): Promise<ReadResponse> {
    const length = contentLength(res.headers)
    return this.#respond(res, 0, length, length, signal)
  }

  async #respond(res: FinalResponse, offset: number, length: number | undefined, size: number | undefined, signal: AbortSignal): Promise<ReadResponse> {
    const encoding = encodingOf(res.headers)
    if (encoding !== undefined) {
      await discard(res.body)
      throw new HaulError('HAUL_SOURCE', `${res.url.href} sent the body ${encoding}-compressed although haul asked for identity encoding; the bytes would not be the file. Try another mirror or report it to the server's operator.`, {
        source: this.id,
        status: res.statusCode,
        transient: false,
      })
    }
    this.#learn(res, size, res.statusCode === 206)
    return { info: this.info, offset, body: guardBody(res, length, signal) }
  }

  /** Updates what we know from a successful response. */
  #learn(res: FinalResponse, size: number | undefined, sawRange: boolean): void {
    const validator = validatorOf(res.headers)
    const fileName = parseContentDisposition(header(res.headers, 'content-disposition'))?.fileName ?? this.#info.fileName
    this.#info = {
      ranges: !this.#rangesBroken && (sawRange || acceptsRanges(res.headers)),
      ...(size === undefined ? {} : { size }),
      ...(validator === undefined ? {} : { validator }),
      ...(fileName === undefined ? {} : { fileName }),
    }
  }
}

async function createDispatcher(options: HttpSourceOptions): Promise<Dispatcher> {
  const { Agent, EnvHttpProxyAgent } = await import('undici')
  const agentOptions = {
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    bodyTimeout: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    connect: { timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
  }
  const proxied = PROXY_VARIABLES.some((name) => (process.env[name] ?? '') !== '')
  // Plain http goes to the proxy in absolute form, as curl does; https always tunnels (CONNECT).
  return proxied ? new EnvHttpProxyAgent({ ...agentOptions, proxyTunnel: false }) : new Agent(agentOptions)
}

/**
 * The response body as core consumes it: HaulErrors instead of undici errors, a body that ends
 * short of what the headers promised fails (transient) instead of looking complete, and an early
 * `return()` (a `break` in for-await) destroys the stream so the connection is released.
 */
function guardBody(res: FinalResponse, expected: number | undefined, signal: AbortSignal): AsyncIterable<Uint8Array> {
  const { body } = res
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
      let received = 0
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          let step: IteratorResult<Buffer>
          try {
            step = await chunks.next()
          } catch (err) {
            throw toHaulError(err, res.url.href, signal)
          }
          if (!step.done) {
            received += step.value.length
            return step
          }
          if (expected !== undefined && received < expected) {
            throw new HaulError('HAUL_SOURCE', `${res.url.href} ended the body after ${received} of ${expected} bytes.`, { source: res.url.href, transient: true })
          }
          return step
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          body.destroy()
          return { done: true, value: undefined }
        },
      }
    },
  }
}
