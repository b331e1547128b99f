import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

/** One request head as it passed through the proxy. */
export interface RelayedRequest {
  /** `performance.now()` when the head was complete. */
  at: number
  /** 1-based connection number on this proxy. */
  connection: number
  method: string
  /** The request target (path and query). */
  target: string
  /** Header names in lower case; repeated ones joined with `, `. */
  headers: Record<string, string>
}

/** Options for {@link startCountingProxy}. */
export interface CountingProxyOptions {
  /** Port on 127.0.0.1 that every connection is forwarded to. */
  targetPort: number
  /**
   * Bytes per second from the server to all clients together (a shared token bucket), so a test
   * can stop a client at a chosen point of a download. Absent: unlimited.
   * @default undefined
   */
  rateBytesPerSecond?: number
  /**
   * The proxy closes itself after this long, so nothing outlives a test.
   * @default 600000
   */
  lifetimeMs?: number
}

/** A position in the proxy's counters, from {@link CountingProxy.mark}. */
export interface ProxyMark {
  bytes: number
  requests: number
}

/** A running proxy; see {@link startCountingProxy}. */
export interface CountingProxy {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string
  /** `origin` + `path`. */
  url(path: string): string
  /** Bytes the server sent to clients so far (headers and bodies, as on the wire). */
  readonly bytesDown: number
  /** Request heads in arrival order. */
  readonly requests: readonly RelayedRequest[]
  /** The counters now, to measure one run with {@link since}. */
  mark(): ProxyMark
  /** Bytes sent and requests seen after `mark`. */
  since(mark: ProxyMark): { bytes: number; requests: RelayedRequest[] }
  /** Changes the rate limit (undefined: unlimited) for bytes sent from now on. */
  setRate(bytesPerSecond: number | undefined): void
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>
}

/** A request head larger than this is not HTTP from haul; the proxy stops parsing it. */
const MAX_HEAD_BYTES = 64 * 1024

/**
 * A TCP proxy on 127.0.0.1 in front of a real server that counts what the server sends and sees
 * every request head, optionally pacing the server's bytes. It counts on the wire, so it works the
 * same for every server (nginx, Apache, lighttpd, caddy…) without reading their access logs, and a
 * killed client's unread bytes count as fetched, as they should.
 */
export async function startCountingProxy(options: CountingProxyOptions): Promise<CountingProxy> {
  const sockets = new Set<Socket>()
  const requests: RelayedRequest[] = []
  let bytesDown = 0
  let connections = 0
  let rate = options.rateBytesPerSecond
  // The time (performance.now) until which the shared bucket is spoken for.
  let busyUntil = 0

  const server = createServer((client) => {
    const connection = ++connections
    const upstream = connect(options.targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    const drop = (): void => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop)
    upstream.on('error', drop)
    client.on('close', () => {
      sockets.delete(client)
      upstream.destroy()
    })
    upstream.on('close', () => sockets.delete(upstream))
    // Bytes held back by the pacer are no longer in the upstream socket, which may report its
    // end before they went out: the client's side ends only after the last of them.
    let held = 0
    let ended = false
    const endClient = (): void => {
      if (ended && held === 0 && !client.destroyed) client.end()
    }
    upstream.on('end', () => {
      ended = true
      endClient()
    })

    let head = ''
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk)
      if (head.length > MAX_HEAD_BYTES) return
      // Requests from a downloader carry no body (GET, HEAD), so heads follow each other.
      head += chunk.toString('latin1')
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        requests.push(parseHead(head.slice(0, end), connection))
        head = head.slice(end + 4)
      }
    })

    upstream.on('data', (chunk: Buffer) => {
      const send = (): void => {
        if (client.destroyed) return
        bytesDown += chunk.length
        if (!client.write(chunk)) {
          upstream.pause()
          client.once('drain', () => upstream.resume())
        }
      }
      if (rate === undefined) return send()
      const now = performance.now()
      busyUntil = Math.max(now, busyUntil) + (chunk.length * 1000) / rate
      held++
      upstream.pause()
      setTimeout(() => {
        held--
        send()
        if (!client.destroyed && client.writableNeedDrain === false) upstream.resume()
        endClient()
      }, busyUntil - now)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime)
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
    return closing
  }
  const lifetime = setTimeout(() => void close(), options.lifetimeMs ?? 600_000)
  lifetime.unref()

  return {
    origin,
    url: (path) => `${origin}${path}`,
    get bytesDown() {
      return bytesDown
    },
    requests,
    mark: () => ({ bytes: bytesDown, requests: requests.length }),
    since: (mark) => ({ bytes: bytesDown - mark.bytes, requests: requests.slice(mark.requests) }),
    setRate: (bytesPerSecond) => {
      rate = bytesPerSecond
    },
    close,
  }
}

function parseHead(text: string, connection: number): RelayedRequest {
  const [requestLine = '', ...lines] = text.split('\r\n')
  const [method = '', target = ''] = requestLine.split(' ')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { at: performance.now(), connection, method, target, headers }
}
