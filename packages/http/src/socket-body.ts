import type { IncomingHttpHeaders } from 'node:http'
import type { BufferLender } from '@haul/core'
import { connect, type Socket } from 'node:net'
import { ChunkedDecoder } from './chunked-decoder.js'
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from './defaults.js'
import { framingOf, MAX_HEAD_BYTES, parseResponseHead, type BodyFraming, type ResponseHead } from './response-head.js'

/**
 * The fast path for plain `http:` GET and HEAD requests: a `net` socket whose reads land, through
 * `onread`, straight in a few reused buffers — no stream machinery and no allocation per chunk,
 * which is what makes undici's streams cost 1.5–2x curl's time on a fast link. It does only the
 * common case: a response framed by Content-Length, or by the connection's end, or one without a
 * body; and a chunked one when the request says it may be (chunked-decoder.ts). Anything else
 * (a chunked body not asked for, other transfer codings, 1xx, a head that {@link
 * parseResponseHead} does not vouch for) makes {@link SocketPool.request} answer `undefined`, and
 * the caller sends the request again through undici. TLS is not done here: Node 20's `tls` has no
 * `onread`, so https always goes through undici.
 *
 * Connections are kept alive per origin and reused by later requests, also across the
 * transactions of a batch when they share one pool.
 */

/** Options for a {@link SocketPool}. */
export interface SocketPoolOptions {
  /**
   * How long an idle connection is kept for the next request.
   * @default 10000
   */
  idleTimeoutMs?: number
}

/** One request on the fast path. */
export interface PlainRequest {
  url: URL
  method: 'GET' | 'HEAD'
  /** Header names in lowercase; `host` is added. */
  headers: Record<string, string>
  signal: AbortSignal
  /**
   * A second signal that ends the request the same way (the transport's close). Listened to
   * beside `signal` rather than joined with it: `AbortSignal.any` costs more per request (≈ 20 µs
   * here, and weak references for the collector) than the request's own listening does.
   */
  alsoSignal?: AbortSignal
  /** Time allowed to open a connection, when the request needs a new one. */
  connectTimeoutMs: number
  /** Longest silence while the request is in flight (a backstop: core detects stalls itself). */
  ioTimeoutMs: number
  /**
   * The consumer is done with a chunk once it asks for the next one, so its memory is reused;
   * otherwise every chunk stays valid for as long as the consumer holds it.
   */
  reuseChunks: boolean
  /** Memory to read the body into (core's pool): chunks then lie in it and reach the disk uncopied. */
  buffers?: BufferLender
  /**
   * Take a body in the chunked transfer coding (decoded here) instead of leaving it to undici.
   * @default false
   */
  chunked?: boolean
}

/** A response from the fast path; `body` behaves like undici's for what HttpSource uses. */
export interface PlainResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: SocketBody
}

/** Bytes of each reused read buffer of a connection. */
const READ_BUFFER_BYTES = 1024 * 1024
/** Read buffers per connection: one filling while the consumer works on the other. */
const READ_BUFFERS = 2
/** A read gets at least this much room; a buffer with less left is done with. */
const MIN_READ_BYTES = 64 * 1024
/** Room for the one read that lands after a pause, before reads go back to the read buffers. */
const PARKING_BYTES = 64 * 1024
/**
 * A lent buffer still filling is handed out once full, or this long after the last hand-out (the
 * disk writer's checkpoint interval, so a slow stream is journaled as often as before): waking
 * the consumer for each socket read (≈ 6 a MiB on loopback) cost more than the bytes did.
 */
const LENT_HANDOUT_MS = 10
/** Idle connections kept per origin. */
const MAX_IDLE_PER_ORIGIN = 16
/** Header values sent as they are; anything else goes through undici, which checks it. */
const PLAIN_VALUE = /^[\t\x20-\x7e]*$/

/** A socket error: the connection failed, closed early, or timed out. */
class SocketError extends Error {
  readonly code: string
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SocketError'
    this.code = code
  }
}

/** Received bytes in a buffer: [0, fill) landed, [0, handed) went to the consumer. */
interface Slot {
  buffer: Buffer
  fill: number
  handed: number
  /** No more reads go into it. */
  retired: boolean
  /**
   * `pooled`: one of the connection's reused buffers; `lent`: the consumer's (ReadRequest.buffers),
   * filled to its end; `owned`: memory the consumer keeps; `parking`: one read after a pause.
   */
  kind: 'pooled' | 'lent' | 'owned' | 'parking'
}

/**
 * The body of one response, read from its connection: an async iterable of chunks in order.
 * `destroy` gives up on it (closing the connection unless the body is already whole), `dump`
 * drains a small rest so the connection can be reused.
 */
export class SocketBody implements AsyncIterable<Uint8Array> {
  readonly #conn: Connection
  readonly #reuse: boolean
  /** Buffers holding bytes the consumer has not released yet, oldest first; the last one is read into. */
  readonly #slots: Slot[] = []
  /** Body bytes still to come (Infinity: until the connection closes). */
  #remaining: number
  #ended = false
  #failure: Error | undefined
  #waiter: (() => void) | undefined
  /** When a chunk of a lent buffer was last handed out (0: none yet, so the first bytes go at once). */
  #handedAt = 0
  /** Wakes a consumer waiting for a lent buffer that fills slowly. */
  #handoutTimer: NodeJS.Timeout | undefined
  #paused = false
  #iterating = false
  /** The consumer asked for a chunk: until then at most one buffer is read ahead (it may still refuse the response). */
  #pulled = false
  readonly #lender: BufferLender | undefined
  /** Lent buffers that arrived while reading waited for them. */
  readonly #spares: Buffer[] = []
  #acquiring = false
  /** A chunked body's framing, stripped as reads land; the body runs until it says the end came. */
  readonly #decoder: ChunkedDecoder | undefined

  /** @internal `leftover`: body bytes that came with the head (copied: the head buffer is the connection's). */
  constructor(conn: Connection, framing: BodyFraming, reuse: boolean, leftover: Buffer, lender: BufferLender | undefined) {
    this.#conn = conn
    this.#reuse = reuse
    this.#lender = lender
    this.#decoder = framing.kind === 'chunked' ? new ChunkedDecoder() : undefined
    this.#remaining = framing.kind === 'length' ? framing.length : framing.kind === 'close' || framing.kind === 'chunked' ? Number.POSITIVE_INFINITY : 0
    const n = Math.min(leftover.length, this.#remaining)
    if (n > 0) {
      // Into the first lent buffer when there is one, so the reads after it continue in place.
      const lent = lender?.take()
      const buffer = lent ?? Buffer.allocUnsafeSlow(n)
      leftover.copy(buffer, 0, 0, n)
      const fill = this.#decode(buffer, 0, n)
      this.#slots.push({ buffer, fill, handed: 0, retired: lent === undefined || fill === lent.length, kind: lent === undefined ? 'owned' : 'lent' })
      this.#remaining -= fill
    }
    this.#ended = this.#remaining === 0 || this.#decoder?.done === true
  }

  /**
   * The body bytes of `buffer[start, end)`, which just landed: all of them, or for a chunked body
   * what is left at `start` once the framing is stripped. When the framing breaks, the bytes
   * before it are kept (handed out first, like those before a connection's end), the body fails
   * and the connection is closed.
   */
  #decode(buffer: Buffer, start: number, end: number): number {
    if (this.#decoder === undefined) return end - start
    const n = this.#decoder.decode(buffer, start, end)
    const broken = this.#decoder.error
    if (broken !== undefined && this.#failure === undefined) {
      this.#failure = broken
      this.#conn.destroy(broken)
    }
    return n
  }

  /** @internal Bytes came after the end of a chunked body: the connection is out of step. */
  get overran(): boolean {
    return (this.#decoder?.overrun ?? 0) > 0
  }

  /** @internal Whether every byte of the body has arrived. */
  get complete(): boolean {
    return this.#ended && this.#failure === undefined
  }

  /** @internal Where the next read goes; undefined once the body is complete. */
  target(): Buffer | undefined {
    if (this.#ended || this.#failure !== undefined) return undefined
    this.#prepare()
    const slot = this.#slots.at(-1)!
    return slot.buffer.subarray(slot.fill, slot.fill + Math.min(slot.buffer.length - slot.fill, this.#remaining))
  }

  /** Makes sure the last slot can take the next read; sets #paused when only a parking one can. */
  #prepare(): void {
    const last = this.#slots.at(-1)
    if (last !== undefined && !last.retired) {
      const room = last.buffer.length - last.fill
      // A lent buffer is filled to its end, so that it goes to the disk whole.
      if (last.kind === 'lent' ? room > 0 : room >= Math.min(MIN_READ_BYTES, this.#remaining)) return
    }
    if (last !== undefined) last.retired = true
    if (this.#lender !== undefined) return this.#prepareLent()
    const buffers = this.#conn.buffers
    const reused = this.#reuse ? buffers.free.pop() : undefined
    if (reused !== undefined) {
      this.#slots.push({ buffer: reused, fill: 0, handed: 0, retired: false, kind: 'pooled' })
    } else if (!this.#reuse) {
      // The consumer keeps what it gets: memory of its own, no bigger than the rest of the body.
      const size = Math.min(READ_BUFFER_BYTES, Math.max(MIN_READ_BYTES, this.#remaining))
      this.#slots.push({ buffer: Buffer.allocUnsafeSlow(size), fill: 0, handed: 0, retired: false, kind: 'owned' })
    } else if (buffers.allocated < READ_BUFFERS) {
      buffers.allocated++
      this.#slots.push({ buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES), fill: 0, handed: 0, retired: false, kind: 'pooled' })
    } else {
      // Every buffer is taken: pause, and give the one read that may still land a place of its own.
      this.#paused = true
      this.#slots.push({ buffer: this.#parkingBuffer(), fill: 0, handed: 0, retired: false, kind: 'parking' })
    }
  }

  /**
   * The read that landed in the parking slot after reading resumed (its target was set before
   * the pause) becomes the start of the lent buffer that arrived meanwhile, and reads go on
   * after it: one whole buffer for the disk instead of a small copy and write of its own.
   */
  #unpark(slot: Slot): void {
    const lent = this.#spares.shift()!
    slot.buffer.copy(lent, 0, 0, slot.fill)
    if (this.#reuse) this.#conn.buffers.parking = slot.buffer
    slot.buffer = lent
    slot.kind = 'lent'
  }

  /**
   * Memory for the one read after a pause: the connection's spare one when the consumer is done
   * with it (a download whose hashing sets the pace pauses for nearly every MiB), else new.
   */
  #parkingBuffer(): Buffer {
    const spare = this.#reuse ? this.#conn.buffers.parking : undefined
    this.#conn.buffers.parking = undefined
    return spare ?? Buffer.allocUnsafeSlow(PARKING_BYTES)
  }

  /**
   * Lent buffers for reading on after a pause: as many as the lender lets a read gather, so that
   * the socket waits once for several MiB instead of once a MiB (each pause and resume stops and
   * reopens the TCP window: 1 GiB paced by the hashing paused about 800 times).
   */
  async #acquireSpares(): Promise<void> {
    const lender = this.#lender!
    const wanted = Math.max(1, lender.gather ?? 1)
    while (this.#spares.length < wanted && !this.#ended && this.#failure === undefined) {
      this.#spares.push(lender.take() ?? (await lender.acquire()))
    }
  }

  /** The next read goes into the next lent buffer; while none is free, reading pauses until some are. */
  #prepareLent(): void {
    const lent = this.#spares.shift() ?? this.#lender!.take()
    if (lent !== undefined) {
      this.#slots.push({ buffer: lent, fill: 0, handed: 0, retired: false, kind: 'lent' })
      return
    }
    this.#paused = true
    this.#slots.push({ buffer: this.#parkingBuffer(), fill: 0, handed: 0, retired: false, kind: 'parking' })
    if (this.#acquiring) return
    this.#acquiring = true
    void this.#acquireSpares().then(() => {
      this.#acquiring = false
      // A body that ended meanwhile leaves them to the lender, which takes back what nobody filled.
      if (this.#ended || this.#failure !== undefined) return
      if (this.#paused) {
        this.#paused = false
        this.#conn.resume()
      }
    })
  }

  /** @internal `n` bytes landed in the last target. Returns false to pause reading. */
  received(landed: number): boolean {
    const slot = this.#slots.at(-1)!
    const n = this.#decode(slot.buffer, slot.fill, slot.fill + landed)
    slot.fill += n
    if (slot.kind === 'parking' && slot.fill === n && this.#spares.length > 0 && n <= this.#spares[0]!.length) this.#unpark(slot)
    this.#remaining -= n
    if (slot.kind === 'parking' || slot.fill === slot.buffer.length) slot.retired = true
    if (this.#failure !== undefined) {
      // The chunked framing broke (the connection is closed): what came before it goes out, then the failure.
      this.#wake()
      return false
    }
    if (this.#remaining === 0 || this.#decoder?.done === true) this.#ended = true
    else {
      this.#prepare()
      // Without reuse nothing else bounds what waits for the consumer.
      if (!this.#reuse && this.#unhanded() > READ_BUFFERS * READ_BUFFER_BYTES) this.#paused = true
      if (!this.#pulled && this.#unhanded() >= READ_BUFFER_BYTES) this.#paused = true
    }
    // A consumer held back from a lent buffer still filling waits for it to fill (or its timer).
    if (this.#holdFor(slot) === 0) this.#wake()
    return !this.#paused
  }

  #unhanded(): number {
    let n = 0
    for (const s of this.#slots) n += s.fill - s.handed
    return n
  }

  /** @internal The consumer is done: the connection's buffers this body holds go back to it. */
  finish(): void {
    for (let i = this.#slots.length - 1; i >= 0; i--) {
      const slot = this.#slots[i]!
      if (slot.kind !== 'pooled') continue
      this.#slots.splice(i, 1)
      this.#conn.buffers.free.push(slot.buffer)
    }
  }

  /** @internal The connection ended (`error` undefined: closed cleanly by the server). */
  closed(error: Error | undefined): void {
    if (this.#ended) return
    if (error === undefined && this.#remaining === Number.POSITIVE_INFINITY && this.#decoder === undefined) this.#ended = true
    else if (this.#failure === undefined) {
      this.#failure = error ?? new SocketError('the server closed the connection before the end of the body', 'UND_ERR_SOCKET')
    }
    this.#wake()
  }

  #wake(): void {
    if (this.#handoutTimer !== undefined) {
      clearTimeout(this.#handoutTimer)
      this.#handoutTimer = undefined
    }
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.()
  }

  /**
   * How long to hold `slot`'s bytes back before handing them out: 0 unless it is a lent buffer
   * still being filled (see {@link LENT_HANDOUT_MS}).
   */
  #holdFor(slot: Slot): number {
    if (slot.kind !== 'lent' || slot.retired || this.#ended || this.#failure !== undefined || this.#handedAt === 0) return 0
    return Math.max(0, this.#handedAt + LENT_HANDOUT_MS - Date.now())
  }

  /** Forgets what the consumer is done with (everything handed out, in reuse mode), and reads on. */
  #release(): void {
    while (this.#slots.length > 0) {
      const first = this.#slots[0]!
      if (!first.retired || first.handed < first.fill) break
      this.#slots.shift()
      if (first.kind === 'pooled') this.#conn.buffers.free.push(first.buffer)
      // With reuse the consumer is done with it too: the next pause parks its read there again.
      else if (first.kind === 'parking' && this.#reuse) this.#conn.buffers.parking = first.buffer
    }
    if (this.#paused && this.#lender === undefined && (this.#reuse ? this.#conn.buffers.free.length > 0 : this.#unhanded() <= READ_BUFFER_BYTES)) {
      this.#paused = false
      this.#conn.resume()
    }
  }

  /** The next chunk, in order; done at the end of the body. */
  async next(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#pulled) {
      this.#pulled = true
      // Read on, unless a lent buffer is still being waited for (its arrival resumes reading).
      if (this.#paused && !this.#acquiring) {
        this.#paused = false
        this.#conn.resume()
      }
    }
    this.#release()
    for (;;) {
      // Bytes that arrived before a failure go out first: they are good, and a drop (or an abort)
      // must not cost what was already received, however far the consumer lagged behind.
      const slot = this.#slots.find((s) => s.handed < s.fill)
      if (slot === undefined && this.#failure !== undefined) throw this.#failure
      const hold = slot === undefined ? 0 : this.#holdFor(slot)
      if (slot !== undefined && hold === 0) {
        const chunk = slot.buffer.subarray(slot.handed, slot.fill)
        slot.handed = slot.fill
        if (slot.kind === 'lent') this.#handedAt = Date.now()
        if (!this.#reuse) this.#release()
        return { done: false, value: chunk }
      }
      if (this.#ended) {
        this.#conn.bodyDone(this)
        return { done: true, value: undefined }
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve
        // Reads that fill the buffer, the end or a failure wake it sooner.
        if (hold > 0) this.#handoutTimer = setTimeout(() => this.#wake(), hold)
      })
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterating) throw new Error('the body can be read once')
    this.#iterating = true
    return {
      next: () => this.next(),
      return: async () => {
        this.destroy()
        return { done: true, value: undefined }
      },
    }
  }

  /** Gives up on the body: the connection is closed unless the body already arrived whole. */
  destroy(error?: Error): void {
    if (this.complete) return this.#conn.bodyDone(this)
    this.#failure ??= error ?? new SocketError('the body was abandoned', 'UND_ERR_ABORTED')
    this.#conn.destroy(this.#failure)
    this.#wake()
  }

  /** Reads and drops the rest of the body when at most `limit` bytes are to come; else closes the connection. */
  async dump(options: { limit: number }): Promise<void> {
    if (this.#remaining > options.limit) return this.destroy()
    while ((await this.next()).done !== true);
  }
}

/** A request in flight on a connection, until its head arrived. */
interface Pending {
  method: string
  reuse: boolean
  lender: BufferLender | undefined
  chunked: boolean
  resolve: (answer: { head: ResponseHead; body: SocketBody } | 'other') => void
  reject: (error: Error) => void
}

/** One kept-alive connection, whose reads go where the response being received wants them. */
class Connection {
  readonly key: string
  readonly socket: Socket
  readonly #pool: SocketPool
  /**
   * Response heads land here, [0, #headFill). Once a head is parsed the buffer holds nothing of
   * value (the body's first bytes are copied out), so every head starts at 0.
   */
  readonly #head = Buffer.allocUnsafeSlow(MAX_HEAD_BYTES)
  #headFill = 0
  #body: SocketBody | undefined
  #pending: Pending | undefined
  /** Read buffers for bodies read with reuse, kept for the connection's later responses. */
  readonly buffers = { free: [] as Buffer[], allocated: 0, parking: undefined as Buffer | undefined }
  #keepAlive = true
  #dead = false
  #idleTimer: NodeJS.Timeout | undefined
  #unlisten: (() => void) | undefined

  /** The current request's silence allowance. */
  #ioTimeoutMs = 0

  constructor(pool: SocketPool, url: URL, connectTimeoutMs: number) {
    this.#pool = pool
    this.key = url.host
    this.socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      noDelay: true,
      onread: { buffer: () => this.#target(), callback: (n: number) => this.#onRead(n) },
    })
    this.socket.setTimeout(connectTimeoutMs)
    this.socket.once('connect', () => this.socket.setTimeout(this.#ioTimeoutMs))
    this.socket.on('timeout', () => {
      const connecting = this.socket.connecting
      const ms = connecting ? connectTimeoutMs : this.#ioTimeoutMs
      this.destroy(new SocketError(`${connecting ? 'connecting' : 'waiting for the server'} timed out after ${ms} ms`, connecting ? 'UND_ERR_CONNECT_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT'))
    })
    this.socket.on('error', (err) => this.#fail(err))
    this.socket.on('close', () => this.#fail(undefined))
  }

  get dead(): boolean {
    return this.#dead
  }

  /** Whether some byte of the response to the current request has arrived. */
  get answered(): boolean {
    return this.#headFill > 0 || this.#body !== undefined
  }

  #target(): Buffer {
    return this.#body?.target() ?? this.#head.subarray(this.#headFill)
  }

  #onRead(n: number): boolean {
    const body = this.#body
    if (body !== undefined && !body.complete) return body.received(n)
    this.#headFill += n
    const pending = this.#pending
    if (pending === undefined) {
      // Bytes nobody asked for (on an idle connection, or past a body): the stream is out of step.
      this.destroy(new SocketError('the server sent bytes beyond the response', 'UND_ERR_SOCKET'))
      return false
    }
    const head = parseResponseHead(this.#head.subarray(0, this.#headFill))
    if (head === 'incomplete') return true
    this.#pending = undefined
    const framing = head === 'invalid' ? ({ kind: 'other' } as const) : framingOf(pending.method, head, pending.chunked)
    if (head === 'invalid' || framing.kind === 'other') {
      pending.resolve('other')
      this.destroy()
      return false
    }
    const leftover = this.#head.subarray(head.length, this.#headFill)
    const connection = headerTokens(head.headers.connection)
    if (head.minor === 0 || framing.kind === 'close' || connection.includes('close') || (framing.kind === 'length' && leftover.length > framing.length)) this.#keepAlive = false
    const next = new SocketBody(this, framing, pending.reuse, leftover, pending.lender)
    this.#body = next
    this.#headFill = 0
    pending.resolve({ head, body: next })
    if (next.complete) this.bodyDone(next)
    return true
  }

  #fail(error: Error | undefined): void {
    if (this.#dead) return
    this.#dead = true
    this.#pool.forget(this)
    clearTimeout(this.#idleTimer)
    this.#unlisten?.()
    const pending = this.#pending
    this.#pending = undefined
    pending?.reject(error ?? new SocketError('the server closed the connection before it answered', 'UND_ERR_SOCKET'))
    this.#body?.closed(error)
  }

  /** Sends `wire`; resolves with the response's head and body, or 'other' when undici should do it. */
  send(wire: string, request: PlainRequest): Promise<{ head: ResponseHead; body: SocketBody } | 'other'> {
    const { method, signal, alsoSignal } = request
    clearTimeout(this.#idleTimer)
    this.socket.ref()
    this.#ioTimeoutMs = request.ioTimeoutMs
    if (!this.socket.connecting) this.socket.setTimeout(this.#ioTimeoutMs)
    const onAbort = (event: Event): void => {
      const reason: unknown = (event.target as AbortSignal).reason
      this.destroy(reason instanceof Error ? reason : new SocketError('aborted', 'UND_ERR_ABORTED'))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    alsoSignal?.addEventListener('abort', onAbort, { once: true })
    this.#unlisten = () => {
      signal.removeEventListener('abort', onAbort)
      alsoSignal?.removeEventListener('abort', onAbort)
    }
    return new Promise((resolve, reject) => {
      if (this.#dead) return reject(new SocketError('the connection is closed', 'UND_ERR_SOCKET'))
      this.#pending = { method, reuse: request.reuseChunks, lender: request.buffers, chunked: request.chunked === true, resolve, reject }
      this.socket.write(wire, 'latin1')
    })
  }

  resume(): void {
    if (!this.#dead) this.socket.resume()
  }

  /** The body arrived whole: the connection goes back to the pool, or is closed. */
  bodyDone(body: SocketBody): void {
    if (this.#body !== body || this.#dead) return
    this.#body = undefined
    body.finish()
    this.#unlisten?.()
    this.#unlisten = undefined
    if (!this.#keepAlive || body.overran) return this.destroy()
    this.socket.setTimeout(0)
    this.socket.unref()
    this.#idleTimer = setTimeout(() => this.destroy(), this.#pool.idleTimeoutMs).unref()
    this.#pool.idle(this)
  }

  destroy(error?: Error): void {
    this.#fail(error)
    this.socket.destroy()
  }
}

/** `Connection: keep-alive, Upgrade` → `['keep-alive', 'upgrade']`. */
function headerTokens(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value.join(',') : (value ?? '')).toLowerCase().split(',').map((s) => s.trim())
}

/** The fast path's connections, kept alive per origin (`host:port`). */
export class SocketPool {
  readonly idleTimeoutMs: number
  readonly #idle = new Map<string, Connection[]>()
  readonly #active = new Set<Connection>()
  #closed = false

  constructor(options: SocketPoolOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS
  }

  /**
   * Sends `request` and resolves with the response; or with undefined when the request or its
   * response is not one for the fast path (then nothing of the response was handed out, and the
   * caller sends the request through undici). Rejects with the socket's error when the connection
   * fails. A kept-alive connection that the server closed before answering is replaced by a new
   * one once (GET and HEAD are safe to send again).
   */
  async request(request: PlainRequest): Promise<PlainResponse | undefined> {
    const wire = requestHead(request)
    if (wire === undefined || this.#closed) return undefined
    request.signal.throwIfAborted()
    request.alsoSignal?.throwIfAborted()
    for (let attempt = 0; ; attempt++) {
      const reused = this.#take(request.url.host)
      const conn = reused ?? new Connection(this, request.url, request.connectTimeoutMs)
      this.#active.add(conn)
      let answer: Awaited<ReturnType<Connection['send']>>
      try {
        answer = await conn.send(wire, request)
      } catch (err) {
        if (reused !== undefined && attempt === 0 && !conn.answered && !request.signal.aborted && request.alsoSignal?.aborted !== true) continue
        throw err
      }
      if (answer === 'other') return undefined
      return { statusCode: answer.head.statusCode, headers: answer.head.headers as IncomingHttpHeaders, body: answer.body }
    }
  }

  #take(key: string): Connection | undefined {
    const list = this.#idle.get(key)
    for (let conn = list?.pop(); conn !== undefined; conn = list?.pop()) if (!conn.dead) return conn
    return undefined
  }

  /** @internal */
  idle(conn: Connection): void {
    this.#active.delete(conn)
    const list = this.#idle.get(conn.key) ?? []
    if (this.#closed || list.length >= MAX_IDLE_PER_ORIGIN) return conn.destroy()
    list.push(conn)
    this.#idle.set(conn.key, list)
  }

  /** @internal */
  forget(conn: Connection): void {
    this.#active.delete(conn)
    const list = this.#idle.get(conn.key)
    const i = list?.indexOf(conn) ?? -1
    if (i >= 0) list!.splice(i, 1)
  }

  /** Closes every connection, idle or in use (a body being read fails). Idempotent. */
  close(): void {
    this.#closed = true
    for (const conn of [...this.#active, ...[...this.#idle.values()].flat()]) conn.destroy()
    this.#idle.clear()
  }
}

/** The request's bytes, or undefined when something in it needs undici's handling. */
function requestHead(request: PlainRequest): string | undefined {
  const { url } = request
  if (url.protocol !== 'http:') return undefined
  let text = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`
  for (const [name, value] of Object.entries(request.headers)) {
    if (name === 'host' || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || !PLAIN_VALUE.test(value)) return undefined
    text += `${name}: ${value}\r\n`
  }
  return `${text}\r\n`
}

let shared: SocketPool | undefined

/**
 * The process's pool, used by every HttpSource not given one: downloads one after another (a
 * batch, a library fetching many files, a probe and then its download) reuse kept-alive
 * connections. Its idle connections never keep the process alive.
 */
export function sharedSocketPool(): SocketPool {
  shared ??= new SocketPool()
  return shared
}
