import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { startOrigin, type Origin } from '../src/http-origin.js'

const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251))
let origin: Origin | undefined

afterEach(async () => {
  await origin?.close()
  origin = undefined
})

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, { headers: { 'accept-encoding': 'identity', ...headers }, redirect: 'manual' })
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) }
}

describe('startOrigin', () => {
  it('serves the full file with length, validators and Accept-Ranges', async () => {
    origin = await startOrigin({ files: { '/f': { body: data, contentDisposition: 'attachment; filename="f.bin"' } } })
    const res = await get(origin.url('/f'))
    expect(res.status).toBe(200)
    expect(res.body.equals(data)).toBe(true)
    expect(res.headers.get('content-length')).toBe('1000')
    expect(res.headers.get('accept-ranges')).toBe('bytes')
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]+"$/)
    expect(res.headers.get('last-modified')).toBe(origin.lastModified('/f'))
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="f.bin"')
    expect(origin.log[0]).toMatchObject({ n: 1, method: 'GET', path: '/f', status: 200, bytesSent: 1000 })
  })

  it('answers HEAD with headers and no body', async () => {
    origin = await startOrigin({ files: { '/f': data } })
    const res = await fetch(origin.url('/f'), { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe('1000')
    expect(origin.bytesSent()).toBe(0)
  })

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=995-5000', 995, 999],
  ])('answers Range %s with 206 and Content-Range', async (range, start, end) => {
    origin = await startOrigin({ files: { '/f': data } })
    const res = await get(origin.url('/f'), { range })
    expect(res.status).toBe(206)
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`)
    expect(res.body.equals(data.subarray(start, end + 1))).toBe(true)
  })

  it('answers an unsatisfiable range with 416 and the size', async () => {
    origin = await startOrigin({ files: { '/f': data } })
    const res = await get(origin.url('/f'), { range: 'bytes=1000-' })
    expect(res.status).toBe(416)
    expect(res.headers.get('content-range')).toBe('bytes */1000')
  })

  it('honours If-Range by ETag and by date, and serves the new content whole after setFile', async () => {
    origin = await startOrigin({ files: { '/f': data } })
    const etag = origin.etag('/f')!
    const date = origin.lastModified('/f')!
    expect((await get(origin.url('/f'), { range: 'bytes=10-', 'if-range': etag })).status).toBe(206)
    expect((await get(origin.url('/f'), { range: 'bytes=10-', 'if-range': date })).status).toBe(206)
    expect((await get(origin.url('/f'), { range: 'bytes=10-', 'if-range': `W/${etag}` })).status).toBe(200)

    const changed = Buffer.alloc(1000, 7)
    origin.setFile('/f', changed)
    expect(origin.etag('/f')).not.toBe(etag)
    expect(origin.lastModified('/f')).not.toBe(date)
    for (const validator of [etag, date]) {
      const res = await get(origin.url('/f'), { range: 'bytes=10-', 'if-range': validator })
      expect(res.status).toBe(200)
      expect(res.body.equals(changed)).toBe(true)
    }
  })

  it('serves a changed range despite If-Range when told to ignore it', async () => {
    origin = await startOrigin({ files: { '/f': data }, fault: () => ({ ignoreIfRange: true }) })
    const etag = origin.etag('/f')!
    origin.setFile('/f', Buffer.alloc(1000, 7))
    const res = await get(origin.url('/f'), { range: 'bytes=10-', 'if-range': etag })
    expect(res.status).toBe(206)
    expect(res.headers.get('etag')).toBe(origin.etag('/f'))
    expect(res.body.equals(Buffer.alloc(990, 7))).toBe(true)
  })

  it('redirects, including to another origin', async () => {
    const other = await startOrigin({ files: { '/g': data } })
    try {
      origin = await startOrigin({ redirects: { '/a': { location: '/b', status: 301 }, '/b': { location: other.url('/g'), status: 307 } } })
      expect((await get(origin.url('/a'))).headers.get('location')).toBe('/b')
      const res = await fetch(origin.url('/a'))
      expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true)
      expect(origin.log.map((r) => r.status)).toEqual([301, 301, 307])
    } finally {
      await other.close()
    }
  })

  it('scripts faults by request number: status with Retry-After, then ignoreRange, then wrongStart', async () => {
    origin = await startOrigin({
      files: { '/f': data },
      fault: ({ n }) => (n === 1 ? { status: 503, retryAfter: '1' } : n === 2 ? { ignoreRange: true } : n === 3 ? { wrongStart: 0 } : undefined),
    })
    const first = await get(origin.url('/f'), { range: 'bytes=10-' })
    expect([first.status, first.headers.get('retry-after')]).toEqual([503, '1'])
    const second = await get(origin.url('/f'), { range: 'bytes=10-' })
    expect([second.status, second.body.length, second.headers.get('accept-ranges')]).toEqual([200, 1000, null])
    const third = await get(origin.url('/f'), { range: 'bytes=10-' })
    expect([third.status, third.headers.get('content-range')]).toEqual([206, 'bytes 0-999/1000'])
  })

  it('drops the connection after exactly the scripted number of body bytes', async () => {
    origin = await startOrigin({ files: { '/f': Buffer.alloc(1 << 20, 1) }, fault: () => ({ dropAfter: 300_000 }) })
    const received = await new Promise<{ bytes: number; error: boolean }>((resolve) => {
      let bytes = 0
      request(origin!.url('/f'), (res) => {
        res.on('data', (c: Buffer) => (bytes += c.length))
        res.on('error', () => resolve({ bytes, error: true }))
        res.on('close', () => resolve({ bytes, error: !res.complete }))
      }).end()
    })
    expect(received).toEqual({ bytes: 300_000, error: true })
    expect(origin.bytesSent('/f')).toBe(300_000)
  })

  it('stalls after N bytes until close, and close ends the stalled connection', async () => {
    origin = await startOrigin({ files: { '/f': Buffer.alloc(100_000, 1) }, fault: () => ({ stallAfter: 1000 }) })
    const res = await fetch(origin.url('/f'))
    const reader = res.body!.getReader()
    let bytes = 0
    while (bytes < 1000) bytes += (await reader.read()).value!.length
    expect(bytes).toBe(1000)
    const pending = reader.read()
    await origin.close()
    await expect(pending).rejects.toThrow()
  })

  it('gzips, sends chunked or HTML, and lies about Content-Length when scripted', async () => {
    origin = await startOrigin({
      files: { '/f': data },
      fault: ({ n }) => [{ gzip: true }, { chunked: true }, { html: true }, { contentLength: 10 }][n - 1],
    })
    const gz = await fetch(origin.url('/f'), { headers: { 'accept-encoding': 'identity' } })
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    expect(Buffer.from(await gz.arrayBuffer()).equals(data)).toBe(true) // fetch decodes it
    const chunked = await get(origin.url('/f'))
    expect([chunked.headers.get('content-length'), chunked.headers.get('transfer-encoding')]).toEqual([null, 'chunked'])
    expect((await get(origin.url('/f'))).headers.get('content-type')).toMatch(/^text\/html/)
    const lying = await get(origin.url('/f'))
    expect(lying.body.length).toBe(10)
  })

  it('paces the body to the configured rate', async () => {
    origin = await startOrigin({ files: { '/f': Buffer.alloc(100_000) }, rateBytesPerSecond: 400_000 })
    const t0 = performance.now()
    expect((await get(origin.url('/f'))).body.length).toBe(100_000)
    const seconds = (performance.now() - t0) / 1000
    expect(seconds).toBeGreaterThan(0.2)
    expect(seconds).toBeLessThan(1)
  })

  it('closes itself after its lifetime', async () => {
    origin = await startOrigin({ files: { '/f': data }, lifetimeMs: 50 })
    await origin.closed
    await expect(fetch(origin.url('/f'))).rejects.toThrow()
    await origin.close() // idempotent
  })
})
