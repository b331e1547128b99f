import { createHash } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { gzipSync } from 'node:zlib'

/** A file the origin serves, with optional response metadata. */
export interface OriginFile {
  body: Buffer | Uint8Array | string
  /** Sent verbatim as `Content-Disposition`. */
  contentDisposition?: string
  /** @default 'application/octet-stream' */
  contentType?: string
}

/** A redirect the origin answers for one path. */
export interface OriginRedirect {
  /** Absolute URL (possibly another origin) or a path on this origin. */
  location: string
  /** @default 302 */
  status?: 301 | 302 | 303 | 307 | 308
}

/** What a fault script sees about the request it is deciding on. */
export interface FaultRequest {
  /** 1-based request number on this origin (all paths, all methods). */
  n: number
  method: string
  path: string
  /** The raw `Range` header, when sent. */
  range?: string
  headers: IncomingHttpHeaders
}

/** A scripted misbehaviour for one response. Several fields may combine. */
export interface Fault {
  /** Destroy the socket after sending this many body bytes. */
  dropAfter?: number
  /** Send this many body bytes, then nothing; the socket stays open until the origin closes. */
  stallAfter?: number
  /** Answer with this status (and `body`) instead of the file. */
  status?: number
  /** `Retry-After` header sent with `status`. */
  retryAfter?: string
  /** Body sent with `status` or `html`. */
  body?: string
  /** Answer 200 with the full body even to a Range request (and advertise no ranges). */
  ignoreRange?: boolean
  /** Serve the range of the current content even when If-Range does not match. */
  ignoreIfRange?: boolean
  /** Answer 206 whose Content-Range (and bytes) start at this offset instead. */
  wrongStart?: number
  /** Send a 206 without its Content-Range header. */
  omitContentRange?: boolean
  /** Send this Content-Length whatever the body is, then close the connection. */
  contentLength?: number
  /** Pace the body to this many bytes per second. */
  rateBytesPerSecond?: number
  /** Answer 200 `text/html` (a captive portal, an error page). */
  html?: boolean
  /** Send no Content-Length (chunked transfer encoding). */
  chunked?: boolean
  /** Gzip the body and say so, ignoring `Accept-Encoding: identity`. */
  gzip?: boolean
  /** Extra headers, overriding the computed ones. */
  headers?: Record<string, string>
}

/** Options for {@link startOrigin}. */
export interface OriginOptions {
  /** Files by path (`/file.bin`). */
  files?: Record<string, Buffer | Uint8Array | string | OriginFile>
  /** Redirects by path; checked before files. */
  redirects?: Record<string, OriginRedirect>
  /** Chooses a fault for each request; `undefined` serves it correctly. */
  fault?: (req: FaultRequest) => Fault | undefined
  /** Pace every body to this many bytes per second per connection. */
  rateBytesPerSecond?: number
  /**
   * Send a strong ETag.
   * @default true
   */
  etag?: boolean
  /**
   * Send Last-Modified.
   * @default true
   */
  lastModified?: boolean
  /**
   * The server closes itself after this long, so nothing outlives a test.
   * @default 120000
   */
  lifetimeMs?: number
  /**
   * Serve https with this key and certificate (PEM, e.g. from `createTestPki`); `origin` is then
   * `https://127.0.0.1:PORT`.
   * @default undefined (plain http)
   */
  tls?: { key: string; cert: string }
}

/** One request as the origin saw and answered it. Updated while the body is sent. */
export interface RequestRecord {
  n: number
  method: string
  path: string
  headers: IncomingHttpHeaders
  status: number
  bytesSent: number
}

/** A running origin. */
export interface Origin {
  /** `http://127.0.0.1:PORT` (`https://` with the `tls` option) */
  readonly origin: string
  readonly port: number
  /** Every request so far, in arrival order. */
  readonly log: readonly RequestRecord[]
  /** Number of requests so far. */
  readonly requests: number
  /** Absolute URL of `path` on this origin. */
  url(path?: string): string
  /** Body bytes sent so far, for one path or all. */
  bytesSent(path?: string): number
  /** Replace (or add) a file; its ETag and Last-Modified change. */
  setFile(path: string, file: Buffer | Uint8Array | string | OriginFile): void
  /** Replace (or remove, with undefined) the fault script. */
  setFault(fault: OriginOptions['fault']): void
  /** Strong ETag currently served for `path`. */
  etag(path: string): string | undefined
  /** Last-Modified currently served for `path`. */
  lastModified(path: string): string | undefined
  /** Stops the server and destroys every connection (stalled ones too). Idempotent. */
  close(): Promise<void>
  /** Resolves once the origin has closed, by close() or at the end of its lifetime. */
  readonly closed: Promise<void>
}

interface Entry {
  body: Buffer
  etag: string
  lastModified: string
  contentDisposition?: string
  contentType: string
}

const CHUNK = 64 * 1024
/** How long before the origin started its files were last modified. */
const LAST_MODIFIED_AGE_MS = 60 * 60_000
const TICK_MS = 10

/** Starts an HTTP origin on 127.0.0.1, port 0. */
export async function startOrigin(options: OriginOptions = {}): Promise<Origin> {
  const files = new Map<string, Entry>()
  const log: RequestRecord[] = []
  const sockets = new Set<Socket>()
  const cleanups = new Set<() => void>()
  let fault = options.fault
  let lastModifiedMs = 0
  let closing: Promise<void> | undefined
  let markClosed = (): void => {}
  const closed = new Promise<void>((resolve) => (markClosed = resolve))

  function setFile(path: string, file: Buffer | Uint8Array | string | OriginFile): void {
    const spec: OriginFile = typeof file === 'string' || file instanceof Uint8Array ? { body: file } : file
    const body = Buffer.from(spec.body)
    // HTTP dates have one-second resolution: each change must move Last-Modified forward, or an
    // If-Range by date would match content it was never computed from. It starts in the past, as
    // for a file that has sat on a server a while: a date within a second of the response's Date
    // is no strong validator (RFC 9110 §8.8.2.2), and servers refuse If-Range with a recent one.
    lastModifiedMs = Math.max(Math.floor(Date.now() / 1000) * 1000 - LAST_MODIFIED_AGE_MS, lastModifiedMs + 1000)
    files.set(path, {
      body,
      etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`,
      lastModified: new Date(lastModifiedMs).toUTCString(),
      ...(spec.contentDisposition === undefined ? {} : { contentDisposition: spec.contentDisposition }),
      contentType: spec.contentType ?? 'application/octet-stream',
    })
  }
  for (const [path, file] of Object.entries(options.files ?? {})) setFile(path, file)

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => res.destroy())
  }
  const server = options.tls === undefined ? createServer(listener) : createHttpsServer(options.tls, listener)
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const record: RequestRecord = { n: log.length + 1, method, path, headers: req.headers, status: 0, bytesSent: 0 }
    log.push(record)
    const range = req.headers.range
    const f = fault?.({ n: record.n, method, path, ...(range === undefined ? {} : { range }), headers: req.headers }) ?? {}
    const rate = f.rateBytesPerSecond ?? options.rateBytesPerSecond
    const head = (status: number, headers: OutgoingHttpHeaders): void => {
      record.status = status
      res.writeHead(status, { ...headers, ...f.headers })
    }
    const send = (body: Buffer): Promise<void> =>
      method === 'HEAD' ? endEmpty(res) : sendBody(res, body, record, { ...f, ...(rate === undefined ? {} : { rateBytesPerSecond: rate }) }, cleanups)

    const redirect = options.redirects?.[path]
    if (f.status !== undefined) {
      const body = Buffer.from(f.body ?? `status ${f.status}\n`)
      head(f.status, { 'content-type': 'text/plain', 'content-length': body.length, ...(f.retryAfter === undefined ? {} : { 'retry-after': f.retryAfter }) })
      return send(body)
    }
    if (f.html) {
      const body = Buffer.from(f.body ?? '<!doctype html><html><body>Please log in</body></html>\n')
      head(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length })
      return send(body)
    }
    if (redirect !== undefined) {
      head(redirect.status ?? 302, { location: redirect.location, 'content-length': 0 })
      return endEmpty(res)
    }
    const file = files.get(path)
    if (file === undefined) {
      head(404, { 'content-type': 'text/plain', 'content-length': 10 })
      return send(Buffer.from('not found\n'))
    }
    if (method !== 'GET' && method !== 'HEAD') {
      head(405, { allow: 'GET, HEAD', 'content-length': 0 })
      return endEmpty(res)
    }

    const size = file.body.length
    const base: OutgoingHttpHeaders = {
      'content-type': file.contentType,
      ...(f.ignoreRange ? {} : { 'accept-ranges': 'bytes' }),
      ...(options.etag === false ? {} : { etag: file.etag }),
      ...(options.lastModified === false ? {} : { 'last-modified': file.lastModified }),
      ...(file.contentDisposition === undefined ? {} : { 'content-disposition': file.contentDisposition }),
    }
    const wanted = method === 'GET' && range !== undefined && !f.ignoreRange ? parseRange(range, size) : undefined
    const ifRange = req.headers['if-range']
    if (Array.isArray(ifRange)) throw new Error('duplicate If-Range')
    const useRange = wanted !== undefined && (f.ignoreIfRange || ifRange === undefined || ifRangeMatches(ifRange, file, options))

    let status = 200
    let start = 0
    let end = size - 1
    if (f.wrongStart !== undefined) {
      status = 206
      start = f.wrongStart
      end = wanted !== undefined && wanted !== 'unsatisfiable' ? wanted.end : size - 1
    } else if (useRange && wanted === 'unsatisfiable') {
      head(416, { ...base, 'content-range': `bytes */${size}`, 'content-length': 0 })
      return endEmpty(res)
    } else if (useRange && wanted !== undefined && wanted !== 'unsatisfiable') {
      status = 206
      start = wanted.start
      end = wanted.end
    }

    let body = file.body.subarray(start, end + 1)
    const headers: OutgoingHttpHeaders = { ...base }
    if (status === 206 && f.omitContentRange !== true) headers['content-range'] = `bytes ${start}-${end}/${size}`
    if (f.gzip) {
      body = gzipSync(body)
      headers['content-encoding'] = 'gzip'
    }
    if (f.contentLength !== undefined) headers['content-length'] = f.contentLength
    else if (!f.chunked) headers['content-length'] = body.length
    head(status, headers)
    await send(body)
    // A lying Content-Length leaves the connection out of step: close it so the client sees it.
    if (f.contentLength !== undefined) req.socket.destroy()
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const origin = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`
  const lifetime = setTimeout(() => void close(), options.lifetimeMs ?? 120_000)
  lifetime.unref()

  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime)
      for (const cleanup of cleanups) cleanup()
      cleanups.clear()
      server.close(() => {
        markClosed()
        resolve()
      })
      for (const socket of sockets) socket.destroy()
    })
    return closing
  }

  return {
    origin,
    port,
    log,
    get requests() {
      return log.length
    },
    url: (path = '/') => origin + path,
    bytesSent: (path) => log.reduce((sum, r) => sum + (path === undefined || r.path === path ? r.bytesSent : 0), 0),
    setFile,
    setFault: (next) => {
      fault = next
    },
    etag: (path) => files.get(path)?.etag,
    lastModified: (path) => files.get(path)?.lastModified,
    close,
    closed,
  }
}

/**
 * A 127.0.0.1 port that nothing listens on (it was free a moment ago), so connecting is refused:
 * a dead mirror, an unreachable origin.
 */
export async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A single byte range `bytes=a-b | a- | -n`, resolved against `size`; undefined when unparseable. */
function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null) return undefined // several ranges or bad syntax: ignore the header (RFC 9110 §14.2)
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return undefined
  if (a === '') {
    const n = Number(b)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (b !== '' && Number(b) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}

/** RFC 9110 §13.1.5: a strong ETag must match exactly; a date must equal Last-Modified. */
function ifRangeMatches(value: string, file: Entry, options: OriginOptions): boolean {
  const v = value.trim()
  if (v.startsWith('W/')) return false
  if (v.startsWith('"')) return options.etag !== false && v === file.etag
  return options.lastModified !== false && Date.parse(v) === Date.parse(file.lastModified)
}

function endEmpty(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    res.once('close', resolve)
    res.end(() => resolve())
  })
}

/** Writes `body` honouring backpressure, pacing, and the drop/stall faults. */
async function sendBody(res: ServerResponse, body: Buffer, record: RequestRecord, f: Fault, cleanups: Set<() => void>): Promise<void> {
  const limit = Math.min(body.length, f.dropAfter ?? Infinity, f.stallAfter ?? Infinity)
  const rate = f.rateBytesPerSecond
  const started = Date.now()
  const gone = (): boolean => res.destroyed || res.socket === null || res.socket.destroyed
  const closed = new Promise<void>((resolve) => res.once('close', resolve))
  let flushed: Promise<unknown> = Promise.resolve()
  let sent = 0
  while (sent < limit && !gone()) {
    let n = Math.min(CHUNK, limit - sent)
    if (rate !== undefined) {
      const allowed = Math.floor(((Date.now() - started) / 1000) * rate) - sent
      if (allowed <= 0) {
        await wait(TICK_MS, cleanups)
        continue
      }
      n = Math.min(n, allowed)
    }
    const chunk = body.subarray(sent, sent + n)
    sent += n
    record.bytesSent += n
    let ok = true
    flushed = Promise.race([closed, new Promise<void>((resolve) => (ok = res.write(chunk, () => resolve())))])
    if (!ok) await Promise.race([closed, new Promise((resolve) => res.once('drain', resolve))])
  }
  if (gone()) return
  if (sent < body.length && f.dropAfter !== undefined && sent >= f.dropAfter) {
    // Let the promised bytes reach the kernel first, so the client really receives N bytes.
    await flushed
    res.socket?.destroy()
    return
  }
  if (sent < body.length && f.stallAfter !== undefined) return // left open; close() destroys it
  await endEmpty(res)
}

/** A timer that the origin's close() cancels, so a paced or stalled body never outlives it. */
function wait(ms: number, cleanups: Set<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const cleanup = (): void => {
      clearTimeout(timer)
      cleanups.delete(cleanup)
      resolve()
    }
    const timer = setTimeout(cleanup, ms)
    cleanups.add(cleanup)
  })
}
