import { setMaxListeners } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import { HaulError, type BufferLender } from '@haul/core'
import type { Dispatcher } from 'undici'
import { bodyChunks, discard, type ResponseBody } from './body.js'
import type { PoolSettings } from './connection-pool.js'
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DNS_RETRIES,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_INSECURE,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_USER_AGENT,
} from './defaults.js'
import { abortError, classifyNetworkError, networkError } from './errors.js'
import { proxyInEnvironment } from './proxy-environment.js'
import { followRedirects } from './redirects.js'
import { sharedSocketPool, type SocketPool } from './socket-body.js'
import { redactRequestHeaders, redactResponseHeaders, type HttpTrace } from './trace.js'
import { parseCaCertificates, secureContextWith, type CaCertificates } from './trust.js'

/**
 * How haul talks HTTP, for every driver (@haul/http's URLs and mirrors, @haul/ipfs's gateways):
 * proxy, TLS trust, timeouts, User-Agent, redirects and a trace for a verbose mode.
 */
export interface TransportOptions {
  /**
   * The HTTP proxy. `undefined`: from the environment, as curl and undici's EnvHttpProxyAgent
   * read it — `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http (lower-case names too, and they
   * win), except for hosts listed in `NO_PROXY`. A URL (`http://[user:pass@]proxy:3128`): that
   * proxy for every request, whatever the environment says. `false`: no proxy. https URLs tunnel
   * through the proxy with CONNECT; plain http is sent to it in absolute form.
   * @default undefined (the environment)
   */
  proxy?: string | false
  /**
   * Skip TLS certificate verification (expired, self-signed, wrong host name). Anyone on the
   * path can then read and change the download; prefer `ca`.
   * @default false
   */
  insecure?: boolean
  /**
   * Extra trusted CA certificates (PEM, one or a bundle, or several), added to Node's default
   * store (which keeps those of NODE_EXTRA_CA_CERTS). Used for the origin and an https proxy.
   * @default undefined (Node's default store)
   */
  ca?: CaCertificates
  /**
   * Time allowed to open a connection (TCP, and TLS for https) before the attempt fails as
   * transient.
   * @default 30000
   */
  connectTimeoutMs?: number
  /**
   * undici's wait for response headers. The download's stall detection aborts first in
   * practice: @haul/http's `download()` raises this to twice `stallTimeoutMs` unless set here.
   * @default 300000
   */
  headersTimeoutMs?: number
  /**
   * undici's wait between body bytes; a backstop like `headersTimeoutMs`.
   * @default 300000
   */
  bodyTimeoutMs?: number
  /**
   * The `User-Agent` header; a `User-Agent` among a request's own headers wins.
   * @default DEFAULT_USER_AGENT (`haul/VERSION (+https://github.com/haul)`)
   */
  userAgent?: string
  /**
   * Redirects followed per request before it fails (permanently).
   * @default 10
   */
  maxRedirects?: number
  /**
   * Called with every request sent and every response received (method, URL, status, headers;
   * credential values redacted), each redirect hop on its own, for a verbose mode. It must not
   * throw.
   * @default undefined (no trace)
   */
  onHttp?: (trace: HttpTrace) => void
}

/** Every key of {@link TransportOptions}; the `satisfies` keeps this list complete. */
const TRANSPORT_KEYS = Object.keys({
  proxy: true,
  insecure: true,
  ca: true,
  connectTimeoutMs: true,
  headersTimeoutMs: true,
  bodyTimeoutMs: true,
  userAgent: true,
  maxRedirects: true,
  onHttp: true,
} satisfies Record<keyof TransportOptions, true>) as Array<keyof TransportOptions>

/** One request for {@link Transport.request}. */
export interface TransportRequest {
  method: 'GET' | 'HEAD'
  /** Headers for every hop, names lower-case. @default {} */
  headers?: Record<string, string>
  /** Extra headers (credentials) a hop may carry, decided per hop URL. @default none */
  credentialsFor?: (url: URL) => Record<string, string>
  signal: AbortSignal
  /** The `source` fact of connection errors. @default the URL that failed */
  source?: string
  /**
   * How the body may use memory, as a core read allows it (ReadRequest.reuseChunks and buffers).
   * Given, a plain http request may go on the socket fast path (socket-body.ts), whose chunks
   * then follow these rules; absent, the request goes through undici. With `chunked`, a chunked
   * response stays on the fast path too (else undici reads it).
   * @default undefined (undici)
   */
  body?: { reuseChunks: boolean; buffers?: BufferLender; chunked?: boolean }
}

/** The response at the end of the redirect chain. */
export interface TransportResponse {
  /** The URL that answered (after redirects). */
  url: URL
  statusCode: number
  headers: IncomingHttpHeaders
  /** The raw body; drivers read it through {@link TransportResponse.chunks} or drop it with `discard()`. */
  body: ResponseBody
  /**
   * The body as chunks (single use): failures are HaulErrors, a body that ends short of
   * `expected` bytes fails as transient, and `return()` releases the connection.
   */
  chunks(expected?: number): AsyncIterableIterator<Uint8Array>
  /** Releases a body that won't be read, reusing the connection when the rest is short. */
  discard(): Promise<void>
}

/** A connection pool per origin plus the policy around it; see {@link createTransport}. */
export interface Transport {
  /**
   * Sends `request` to `url`, following redirects (bounded, no https→http downgrade). Resolves
   * with any status; rejects with a HaulError for what is below HTTP: TLS (permanent, with how
   * to trust the server), DNS (one retry per host, then permanent), connect and abort.
   */
  request(url: URL, request: TransportRequest): Promise<TransportResponse>
  /** Closes the pool, aborting requests still in flight. Idempotent. */
  close(): Promise<void>
}

/**
 * Builds the HTTP transport that both drivers use. Options are checked here: a bad proxy URL,
 * timeout or CA file fails with HAUL_USAGE before any request.
 * @param dispatcher an undici dispatcher to send through instead of the transport's own pool
 *   (proxy, TLS and timeout options then don't apply); the caller keeps it open
 */
export function createTransport(options: TransportOptions = {}, dispatcher?: Dispatcher): Transport {
  return new PooledTransport(options, dispatcher)
}

/** Splits a driver's options into the transport's and the rest. */
export function splitTransportOptions<T extends TransportOptions>(options: T): { transport: TransportOptions; rest: Omit<T, keyof TransportOptions> } {
  const transport: Record<string, unknown> = {}
  const rest: Record<string, unknown> = { ...(options as Record<string, unknown>) }
  for (const key of TRANSPORT_KEYS) {
    if (rest[key] !== undefined) transport[key] = rest[key]
    delete rest[key]
  }
  return { transport: transport as TransportOptions, rest: rest as Omit<T, keyof TransportOptions> }
}

class PooledTransport implements Transport {
  /** undici, set up on first use: a plain http download on the fast path never loads it. */
  #pool: Promise<Dispatcher> | undefined
  readonly #settings: PoolSettings | undefined
  readonly #ownsPool: boolean
  /** The fast path's connections (the process's, shared by transports), when no proxy applies. */
  readonly #sockets: SocketPool | undefined
  /**
   * Fires at close(): ends this transport's requests on the shared fast-path connections. Made
   * at the first such request: a batch makes two transports per file (one names it, one
   * downloads it) and the second sends nothing for a small file, whose controller was made and
   * aborted for nothing (300 × 16 KiB, 14 alternating rounds: CPU 0.502 → 0.494 s, wall 0.424 →
   * 0.419 s).
   */
  #closed: AbortController | undefined
  readonly #userAgent: string
  readonly #maxRedirects: number
  readonly #onHttp: ((trace: HttpTrace) => void) | undefined
  /** Resolution failures per host name, for the DNS retry budget. */
  readonly #dnsFailures = new Map<string, number>()
  #closing: Promise<void> | undefined

  constructor(options: TransportOptions, dispatcher: Dispatcher | undefined) {
    const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS
    if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
      throw new HaulError('HAUL_USAGE', `maxRedirects must be a whole number of 0 or more, got ${String(maxRedirects)}.`)
    }
    const userAgent = options.userAgent ?? DEFAULT_USER_AGENT
    if (typeof userAgent !== 'string' || /[\r\n\0]/.test(userAgent)) throw new HaulError('HAUL_USAGE', 'userAgent must be text without line breaks.')
    this.#maxRedirects = maxRedirects
    this.#userAgent = userAgent
    this.#onHttp = options.onHttp
    this.#ownsPool = dispatcher === undefined
    if (dispatcher !== undefined) this.#pool = Promise.resolve(dispatcher)
    else {
      this.#settings = {
        proxy: checkProxy(options.proxy),
        connectTimeoutMs: checkTimeout('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        headersTimeoutMs: checkTimeout('headersTimeoutMs', options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS),
        bodyTimeoutMs: checkTimeout('bodyTimeoutMs', options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS),
        rejectUnauthorized: !(options.insecure ?? DEFAULT_INSECURE),
        secureContext: options.ca === undefined ? undefined : secureContextWith(parseCaCertificates(options.ca)),
      }
      const { proxy } = this.#settings
      const proxied = proxy !== false && (proxy !== undefined || proxyInEnvironment())
      if (!proxied) this.#sockets = sharedSocketPool()
    }
  }

  async request(start: URL, request: TransportRequest): Promise<TransportResponse> {
    const { url, res } = await followRedirects(start, this.#maxRedirects, (hop) => this.#send(hop, request))
    const from = { url, signal: request.signal, ...(request.source === undefined ? {} : { source: request.source }) }
    return {
      url,
      statusCode: res.statusCode,
      headers: res.headers,
      body: res.body,
      chunks: (expected) => bodyChunks(res.body, from, expected),
      discard: () => discard(res.body),
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed?.abort(closedReason())
      if (this.#ownsPool && this.#pool !== undefined) await (await this.#pool).destroy()
    })()
    return this.#closing
  }

  /** The signal of {@link PooledTransport.#closed}, made now if need be (aborted already after close()). */
  #closedSignal(): AbortSignal {
    if (this.#closed === undefined) {
      this.#closed = new AbortController()
      // Every request in flight on the fast path listens to it (a batch at -j 32 has 32).
      setMaxListeners(0, this.#closed.signal)
      // Made after close() (whose promise is set by then): a request on a closed transport fails.
      if (this.#closing !== undefined) this.#closed.abort(closedReason())
    }
    return this.#closed.signal
  }

  /** undici's pool, created on first use. */
  #undici(): Promise<Dispatcher> {
    this.#pool ??= import('./connection-pool.js').then(({ createPool }) => createPool(this.#settings!))
    return this.#pool
  }

  /**
   * One hop on the wire. Every request of every driver passes here, so a per-origin choice of
   * how to carry the body (another client beside undici) belongs here too.
   */
  async #send(url: URL, request: TransportRequest): Promise<{ statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody }> {
    const headers = { 'user-agent': this.#userAgent, ...request.headers, ...request.credentialsFor?.(url) }
    this.#onHttp?.({ type: 'request', method: request.method, url: url.href, headers: redactRequestHeaders(headers) })
    // process.hrtime, not performance.now(): the first use of `performance` loads perf_hooks.
    const sent = process.hrtime.bigint()
    let res: { statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody } | undefined
    try {
      if (this.#sockets !== undefined && request.body !== undefined && url.protocol === 'http:') {
        const { connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs } = this.#settings!
        res = await this.#sockets.request({
          url,
          method: request.method,
          headers,
          signal: request.signal,
          alsoSignal: this.#closedSignal(),
          connectTimeoutMs,
          ioTimeoutMs: Math.max(headersTimeoutMs, bodyTimeoutMs),
          ...request.body,
        })
      }
      // Not for the fast path (or a response it leaves alone, then sent again): undici.
      res ??= await (await this.#undici()).request({ origin: url.origin, path: url.pathname + url.search, method: request.method, headers, signal: request.signal })
    } catch (err) {
      throw this.#failure(err, url, request)
    }
    this.#onHttp?.({ type: 'response', method: request.method, url: url.href, status: res.statusCode, headers: redactResponseHeaders(res.headers), ms: Number((process.hrtime.bigint() - sent) / 1_000_000n) })
    return res
  }

  #failure(err: unknown, url: URL, request: TransportRequest): HaulError {
    if (request.signal.aborted) return abortError(request.signal)
    let retryDns = true
    if (classifyNetworkError(err) === 'dns') {
      const failures = (this.#dnsFailures.get(url.hostname) ?? 0) + 1
      this.#dnsFailures.set(url.hostname, failures)
      retryDns = failures <= DEFAULT_DNS_RETRIES
    }
    return networkError(err, url.href, request.source ?? url.href, retryDns)
  }
}

/** What a request on a closed transport fails with (classified as undici's own "destroyed"). */
function closedReason(): Error {
  return Object.assign(new Error('the transport was closed'), { code: 'UND_ERR_DESTROYED' })
}

/** The proxy option, checked: a URL must parse and be http(s). Never echoes it: it may hold a password. */
function checkProxy(proxy: string | false | undefined): string | false | undefined {
  if (proxy === undefined || proxy === false) return proxy
  let url: URL
  try {
    url = new URL(proxy)
  } catch (err) {
    throw new HaulError('HAUL_USAGE', 'The proxy is not a URL; give http://host:port (or https://), or false for no proxy.', { cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HaulError('HAUL_USAGE', `The proxy URL is ${url.protocol}; haul speaks to http:// and https:// proxies.`)
  }
  return url.href
}

function checkTimeout(name: string, ms: number): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw new HaulError('HAUL_USAGE', `${name} must be a positive number of milliseconds, got ${String(ms)}.`)
  return ms
}
