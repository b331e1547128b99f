import { isHaulError } from '@haul/core'
import { describe, expect, it } from 'vitest'
import { bytes, collect, deadline, harness } from './helpers.js'

const data = bytes(256 * 1024)
const h = harness()

describe('HttpSource.read', () => {
  it('reads the whole file and learns size, validator and ranges', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const source = h.source(origin.url('/f'))
    const res = await source.read({ offset: 0, signal: deadline() })
    expect(res.offset).toBe(0)
    expect((await collect(res)).equals(data)).toBe(true)
    expect(res.info).toEqual({ size: data.length, validator: origin.etag('/f'), ranges: true })
    expect(origin.log[0]?.headers).toMatchObject({ 'accept-encoding': 'identity', 'user-agent': expect.stringMatching(/^haul\/\d/) })
    expect(origin.log[0]?.headers.range).toBeUndefined()
  })

  it('reads from an offset with Range and If-Range', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const source = h.source(origin.url('/f'))
    const validator = origin.etag('/f')!
    const res = await source.read({ offset: 1000, validator, signal: deadline() })
    expect(res.offset).toBe(1000)
    expect((await collect(res)).equals(data.subarray(1000))).toBe(true)
    expect(origin.log[0]?.headers).toMatchObject({ range: 'bytes=1000-', 'if-range': validator })
    expect(res.info.size).toBe(data.length)
  })

  it('reads a segment [offset, end)', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const source = h.source(origin.url('/f'))
    const res = await source.read({ offset: 100, end: 300, signal: deadline() })
    expect(res.offset).toBe(100)
    expect((await collect(res)).equals(data.subarray(100, 300))).toBe(true)
    expect(origin.log[0]?.headers.range).toBe('bytes=100-299')
    expect(res.info).toMatchObject({ size: data.length, ranges: true })
  })

  it('uses Last-Modified as the validator when there is no ETag', async () => {
    const origin = await h.origin({ files: { '/f': data }, etag: false })
    const source = h.source(origin.url('/f'))
    const res = await source.read({ offset: 0, signal: deadline() })
    await collect(res)
    expect(res.info.validator).toBe(origin.lastModified('/f'))
  })

  it('takes no Last-Modified within a second of the Date as a validator (it may change again in that second)', async () => {
    const origin = await h.origin({ files: { '/f': data }, etag: false, fault: () => ({ headers: { 'last-modified': new Date().toUTCString() } }) })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    await collect(res)
    expect(res.info.validator).toBeUndefined()
  })

  it('sends a Last-Modified older than a minute as If-Range', async () => {
    const origin = await h.origin({ files: { '/f': data }, etag: false })
    const validator = origin.lastModified('/f')!
    const res = await h.source(origin.url('/f')).read({ offset: 1000, validator, signal: deadline() })
    expect(res.offset).toBe(1000)
    expect((await collect(res)).equals(data.subarray(1000))).toBe(true)
    expect(origin.log[0]?.headers).toMatchObject({ range: 'bytes=1000-', 'if-range': validator })
  })

  it('resumes against a Last-Modified younger than a minute with a bare Range, then compares the 206’s own date', async () => {
    // Apache answers an If-Range date within 60 s of the mtime with 200: haul does not send one.
    let modified = new Date(Date.now() - 30_000).toUTCString()
    const origin = await h.origin({ files: { '/f': data }, etag: false, fault: () => ({ headers: { 'last-modified': modified } }) })
    const source = h.source(origin.url('/f'))
    const first = await source.read({ offset: 0, signal: deadline() })
    await collect(first)
    const validator = first.info.validator!
    expect(validator).toBe(modified)
    const same = await source.read({ offset: 1000, validator, signal: deadline() })
    expect(same.offset).toBe(1000)
    expect((await collect(same)).equals(data.subarray(1000))).toBe(true)
    const changed = bytes(data.length)
    origin.setFile('/f', changed)
    modified = new Date(Date.now() - 10_000).toUTCString()
    const after = await source.read({ offset: 1000, validator, signal: deadline() })
    expect(after.offset).toBe(0)
    expect((await collect(after)).equals(changed)).toBe(true)
    expect(origin.log.map((r) => [r.status, r.headers.range, r.headers['if-range']])).toEqual([
      [200, undefined, undefined],
      [206, 'bytes=1000-', undefined],
      [206, 'bytes=1000-', undefined],
      [200, undefined, undefined],
    ])
  })

  it('reports the recorded date as the validator of a 206 that matched it, though the server now shows a strong ETag too', async () => {
    // Apache: in the second after a change the ETag is weak and the date was recorded; then the ETag turns strong.
    const modified = new Date(Date.now() - 30_000).toUTCString()
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ headers: { 'last-modified': modified } }) })
    const res = await h.source(origin.url('/f')).read({ offset: 1000, validator: modified, signal: deadline() })
    expect(res.offset).toBe(1000)
    expect(res.info.validator).toBe(modified)
    expect((await collect(res)).equals(data.subarray(1000))).toBe(true)
  })

  it('never uses a weak ETag as a validator', async () => {
    const origin = await h.origin({ files: { '/f': data }, lastModified: false, fault: () => ({ headers: { etag: 'W/"weak"' } }) })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    await collect(res)
    expect(res.info.validator).toBeUndefined()
  })

  it('returns the new content whole from 0 when If-Range no longer matches', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const source = h.source(origin.url('/f'))
    const old = origin.etag('/f')!
    const changed = bytes(200 * 1024)
    origin.setFile('/f', changed)
    const res = await source.read({ offset: 1000, validator: old, signal: deadline() })
    expect(res.offset).toBe(0)
    expect((await collect(res)).equals(changed)).toBe(true)
    expect(res.info).toMatchObject({ size: changed.length, validator: origin.etag('/f') })
  })

  it('never claims a 206 of changed content when the server ignores If-Range', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ ignoreIfRange: true }) })
    const source = h.source(origin.url('/f'))
    const old = origin.etag('/f')!
    const changed = bytes(data.length)
    origin.setFile('/f', changed)
    const res = await source.read({ offset: 1000, validator: old, signal: deadline() })
    expect(res.offset).toBe(0)
    expect((await collect(res)).equals(changed)).toBe(true)
    expect(origin.log.map((r) => [r.status, r.headers.range])).toEqual([
      [206, 'bytes=1000-'],
      [200, undefined],
    ])
  })

  it('accepts a 206 that carries no validator when its total matches', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: ({ range }) => (range === undefined ? undefined : { headers: { etag: '', 'last-modified': '' } }) })
    const source = h.source(origin.url('/f'))
    await collect(await source.read({ offset: 0, signal: deadline() }))
    const res = await source.read({ offset: 1000, validator: origin.etag('/f')!, signal: deadline() })
    expect(res.offset).toBe(1000)
    expect(res.info.validator).toBeUndefined()
    expect((await collect(res)).equals(data.subarray(1000))).toBe(true)
  })

  it('restarts from 0 when a 206 reports a different total than the one learned', async () => {
    const origin = await h.origin({ files: { '/f': data }, etag: false, lastModified: false })
    const source = h.source(origin.url('/f'))
    await collect(await source.read({ offset: 0, signal: deadline() }))
    const longer = bytes(data.length + 10)
    origin.setFile('/f', longer)
    const res = await source.read({ offset: 1000, signal: deadline() })
    expect(res.offset).toBe(0)
    expect((await collect(res)).equals(longer)).toBe(true)
  })

  it('rejects a 206 that starts elsewhere, then stops asking for ranges', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => (n === 1 ? { wrongStart: 0 } : undefined) })
    const source = h.source(origin.url('/f'))
    const err = await source.read({ offset: 1000, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient).toBe(true)
    expect(source.info.ranges).toBe(false)
    const res = await source.read({ offset: 1000, signal: deadline() })
    expect(res.offset).toBe(0)
    expect(res.info.ranges).toBe(false)
    expect((await collect(res)).equals(data)).toBe(true)
    expect(origin.log[1]?.headers.range).toBeUndefined()
  })

  it('rejects a 206 that ends short of the requested end', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ headers: { 'content-range': `bytes 100-199/${data.length}` } }) })
    const err = await h.source(origin.url('/f')).read({ offset: 100, end: 300, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient).toBe(true)
  })

  it('answers offset 0 when the server ignores Range', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ ignoreRange: true }) })
    const res = await h.source(origin.url('/f')).read({ offset: 5000, signal: deadline() })
    expect(res.offset).toBe(0)
    expect(res.info.ranges).toBe(false)
    expect((await collect(res)).equals(data)).toBe(true)
  })

  it('restarts from 0 on 416 (the remote shrank below the offset)', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const smaller = bytes(100)
    origin.setFile('/f', smaller)
    const res = await h.source(origin.url('/f')).read({ offset: 5000, signal: deadline() })
    expect(res.offset).toBe(0)
    expect((await collect(res)).equals(smaller)).toBe(true)
  })

  it('refuses a gzip body sent despite Accept-Encoding: identity', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ gzip: true }) })
    const err = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE')).toBe(true)
    expect(isHaulError(err) && err.transient).toBe(false)
    expect(String(err)).toMatch(/gzip/)
  })

  it('reports an unknown size for a chunked body and still reads it', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ chunked: true }) })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    expect(res.info.size).toBeUndefined()
    expect((await collect(res)).equals(data)).toBe(true)
  })

  it('learns the file name from Content-Disposition', async () => {
    const origin = await h.origin({ files: { '/f': { body: data, contentDisposition: `attachment; filename="plain.bin"; filename*=UTF-8''%E2%82%AC%20rates.bin` } } })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    await collect(res)
    expect(res.info.fileName).toBe('€ rates.bin')
  })

  it('releases the connection when the consumer stops early', async () => {
    const origin = await h.origin({ files: { '/f': bytes(4 * 1024 * 1024) }, rateBytesPerSecond: 8 * 1024 * 1024 })
    const source = h.source(origin.url('/f'))
    const res = await source.read({ offset: 0, signal: deadline() })
    for await (const chunk of res.body) {
      expect(chunk.length).toBeGreaterThan(0)
      break
    }
    // The same source can read again at once: the broken-off body did not pin anything.
    const again = await source.read({ offset: 0, end: 10, signal: deadline() })
    expect((await collect(again)).length).toBe(10)
  })

  it('sends user headers, and lets them override User-Agent but not Accept-Encoding', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    await collect(await h.source(origin.url('/f'), { headers: { 'User-Agent': 'custom/1', 'X-Trace': 'abc', 'Accept-Encoding': 'gzip' } }).read({ offset: 0, signal: deadline() }))
    expect(origin.log[0]?.headers).toMatchObject({ 'user-agent': 'custom/1', 'x-trace': 'abc', 'accept-encoding': 'identity' })
  })
})

describe('HttpSource.probe', () => {
  it('learns the remote with HEAD', async () => {
    const origin = await h.origin({ files: { '/f': { body: data, contentDisposition: 'attachment; filename="x.bin"' } } })
    const info = await h.source(origin.url('/f')).probe(deadline())
    expect(info).toEqual({ size: data.length, validator: origin.etag('/f'), ranges: true, fileName: 'x.bin' })
    expect(origin.log.map((r) => r.method)).toEqual(['HEAD'])
  })

  it('falls back to a one-byte ranged GET when HEAD is refused', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: ({ method }) => (method === 'HEAD' ? { status: 405 } : undefined) })
    const info = await h.source(origin.url('/f')).probe(deadline())
    expect(info).toMatchObject({ size: data.length, ranges: true })
    expect(origin.log.map((r) => [r.method, r.status])).toEqual([
      ['HEAD', 405],
      ['GET', 206],
    ])
    expect(origin.bytesSent('/f')).toBeLessThanOrEqual(64) // the 405 text and one byte
  })

  it('maps a 404 on HEAD to a permanent HAUL_SOURCE', async () => {
    const origin = await h.origin({})
    const err = await h.source(origin.url('/missing')).probe(deadline()).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.status === 404 && err.transient === false).toBe(true)
  })
})

describe('HttpSource proxy', () => {
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY }
  const restore = (): void => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }

  it('sends through HTTP_PROXY when it is set', async () => {
    // The testkit origin serves absolute-form request targets too, so it can play the proxy.
    const proxy = await h.origin({ files: { '/f': data } })
    process.env.HTTP_PROXY = proxy.origin
    delete process.env.NO_PROXY
    try {
      const res = await h.source('http://haul-proxy-test.invalid/f').read({ offset: 0, signal: deadline() })
      expect((await collect(res)).equals(data)).toBe(true)
      expect(proxy.log[0]?.headers.host).toBe('haul-proxy-test.invalid')
    } finally {
      restore()
    }
  })

  it('goes direct for hosts in NO_PROXY', async () => {
    const proxy = await h.origin({ files: { '/f': data } })
    const origin = await h.origin({ files: { '/f': data } })
    process.env.HTTP_PROXY = proxy.origin
    process.env.NO_PROXY = '127.0.0.1'
    try {
      await collect(await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() }))
      expect([proxy.requests, origin.requests]).toEqual([0, 1])
    } finally {
      restore()
    }
  })
})
