import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isHaulError } from '@haul/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import type { HttpTrace } from '../src/trace.js'
import { createTransport } from '../src/transport.js'
import { bytes, collect, deadline, harness } from './helpers.js'

const h = harness()
const data = bytes(32 * 1024)
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-transport-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Listens on 127.0.0.1:0 and counts the TCP connections it accepts; close() destroys them. */
async function listen<T extends Server | ReturnType<typeof createTcpServer>>(server: T): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let connections = 0
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('transport', () => {
  it('traces each hop: the request line and headers sent, the status and headers received, secrets redacted', async () => {
    const origin = await h.origin({ files: { '/real': data }, redirects: { '/f': { location: '/real' } } })
    const traces: HttpTrace[] = []
    await download(origin.url('/f'), { output: join(dir, 'f'), headers: { Authorization: 'Bearer secret', 'X-Trace': 'abc' }, onHttp: (t) => traces.push(t) })
    expect(traces.map((t) => [t.type, t.method, t.url, t.type === 'response' ? t.status : undefined])).toEqual([
      ['request', 'GET', origin.url('/f'), undefined],
      ['response', 'GET', origin.url('/f'), 302],
      ['request', 'GET', origin.url('/real'), undefined],
      ['response', 'GET', origin.url('/real'), 200],
    ])
    const request = traces[0]!
    expect(request.headers).toMatchObject({ authorization: '[redacted]', 'x-trace': 'abc', 'accept-encoding': 'identity', 'user-agent': expect.stringMatching(/^haul\//) })
    expect(traces[3]!.headers).toMatchObject({ 'content-length': String(data.length), etag: origin.etag('/real') })
    expect(origin.log[0]?.headers.authorization).toBe('Bearer secret') // redacted in the trace only
  })

  it('sends the userAgent option, and a User-Agent header still wins', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    await download(origin.url('/f'), { output: join(dir, 'a'), userAgent: 'fleet/3' })
    await download(origin.url('/f'), { output: join(dir, 'b'), userAgent: 'fleet/3', headers: { 'User-Agent': 'mine/1' } })
    expect(origin.log.map((r) => r.headers['user-agent'])).toEqual(['fleet/3', 'mine/1'])
  })

  it('reuses kept-alive connections per origin: ten requests in turn take at most two', async () => {
    const server = await listen(createHttpServer((_, res) => res.end('hi')))
    const transport = createTransport()
    try {
      for (let i = 0; i < 10; i++) {
        const res = await transport.request(new URL(`http://127.0.0.1:${server.port}/${i}`), { method: 'GET', signal: deadline() })
        expect(Buffer.concat(await collectChunks(res.chunks())).toString()).toBe('hi')
      }
      // undici may open a second connection while the first finishes its response; never more.
      expect(server.connections()).toBeLessThanOrEqual(2)
    } finally {
      await transport.close()
      await server.close()
    }
  })

  it('fails a connection that does not finish its TLS handshake within connectTimeoutMs, as transient', async () => {
    const silent = await listen(createTcpServer(() => undefined)) // accepts, never answers the ClientHello
    try {
      const started = Date.now()
      const source = h.source(`https://127.0.0.1:${silent.port}/f`, { connectTimeoutMs: 300 })
      const err = await source.read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
      expect(isHaulError(err, 'HAUL_SOURCE') && err.transient).toBe(true)
      expect(String(err)).toMatch(/timeout/i)
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await silent.close()
    }
  })

  it.each([
    ['a proxy that is not a URL', { proxy: 'proxy.example:3128' }],
    ['a socks proxy', { proxy: 'socks5://127.0.0.1:1080' }],
    ['a zero connect timeout', { connectTimeoutMs: 0 }],
    ['a negative headers timeout', { headersTimeoutMs: -1 }],
    ['a body timeout that is not a number', { bodyTimeoutMs: Number.NaN }],
    ['a User-Agent with a line break', { userAgent: 'a\r\nX-Injected: 1' }],
  ])('rejects %s with HAUL_USAGE before any request', async (_, options) => {
    const origin = await h.origin({ files: { '/f': data } })
    await expect(download(origin.url('/f'), { output: join(dir, 'f'), ...options })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(origin.requests).toBe(0)
  })

  it('never echoes a proxy password in its error', async () => {
    const err = await download('http://127.0.0.1:1/f', { output: join(dir, 'f'), proxy: 'ftp://me:hunter2@proxy' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_USAGE' })
    expect(String(err)).not.toContain('hunter2')
  })

  it('ends a body still arriving on the fast path (plain http, read into chunks) when the transport closes', async () => {
    // Sends the head and 3 of 1000 bytes, then holds the connection open.
    const server = await listen(createTcpServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nabc'))))
    const transport = createTransport()
    try {
      const res = await transport.request(new URL(`http://127.0.0.1:${server.port}/f`), { method: 'GET', signal: deadline(), body: { reuseChunks: false } })
      const chunks = res.chunks(1000)
      expect(Buffer.from((await chunks.next()).value as Uint8Array).toString()).toBe('abc')
      const closing = transport.close()
      await expect(chunks.next()).rejects.toThrow(/the transport was closed/)
      await closing
    } finally {
      await transport.close()
      await server.close()
    }
  })

  it('sends nothing on the fast path once closed, even when it never sent before', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const transport = createTransport()
    await transport.close()
    await expect(transport.request(new URL(origin.url('/f')), { method: 'GET', signal: deadline(), body: { reuseChunks: false } })).rejects.toThrow(/the transport was closed/)
    expect(origin.requests).toBe(0)
  })

  it('reads a body through chunks() and releases it on return()', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const transport = createTransport()
    try {
      const res = await transport.request(new URL(origin.url('/f')), { method: 'GET', signal: deadline() })
      const chunks = res.chunks(data.length)
      const first = await chunks.next()
      expect(first.done).toBe(false)
      await chunks.return?.()
      const again = await transport.request(new URL(origin.url('/f')), { method: 'GET', signal: deadline() })
      expect((await collect({ info: { ranges: true }, offset: 0, body: again.chunks(data.length) })).equals(data)).toBe(true)
    } finally {
      await transport.close()
    }
  })
})

async function collectChunks(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of chunks) out.push(chunk)
  return out
}
