import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HaulEvent } from '@haul/core'
import { closedPort } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import { bytes, harness } from './helpers.js'

const MiB = 1024 * 1024
const h = harness()
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-http-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
/** Fast retries: the tests wait on behaviour, not on production backoff. */
const quick = { backoff: { baseMs: 10, capMs: 50 } }

describe('download: input', () => {
  it.each(['ftp://example.com/f', 'file:///etc/passwd', 'not a url', 'ipfs://bafy'])('rejects %j with HAUL_USAGE before any request', async (url) => {
    await expect(download(url, { output: join(dir, 'f') })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
  })

  it('rejects a bad mirror with HAUL_USAGE before any request', async () => {
    const origin = await h.origin({ files: { '/f': bytes(10) } })
    await expect(download(origin.url('/f'), { output: join(dir, 'f'), mirrors: ['gopher://x/'] })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(origin.requests).toBe(0)
  })

  it.each([
    [{ headers: { 'Bad Name': 'x' } }],
    [{ headers: { 'X-Ok': 'a\r\nInjected: 1' } }],
    [{ maxRedirects: -1 }],
    [{ maxRedirects: 1.5 }],
  ])('rejects invalid options %j with HAUL_USAGE before any request', async (options) => {
    const origin = await h.origin({ files: { '/f': bytes(10) } })
    await expect(download(origin.url('/f'), { output: join(dir, 'f'), ...options })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(origin.requests).toBe(0)
  })
})

describe('download: end to end', () => {
  it('downloads a file and leaves nothing else in the folder', async () => {
    const data = bytes(3 * MiB + 17)
    const origin = await h.origin({ files: { '/f': data } })
    const output = join(dir, 'f.bin')
    const result = await download(origin.url('/f'), { output, sha256: sha256(data) })
    expect(result).toMatchObject({ path: output, bytes: data.length, sha256: sha256(data), resumedFrom: 0, cached: false })
    expect((await readFile(output)).equals(data)).toBe(true)
    expect(await readdir(dir)).toEqual(['f.bin'])
  })

  it('resumes after a drop at 50% with at most 1.05x the bytes sent', async () => {
    const data = bytes(8 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => (n === 1 ? { dropAfter: 4 * MiB } : undefined) })
    const output = join(dir, 'f.bin')
    const result = await download(origin.url('/f'), { output, sha256: sha256(data), ...quick })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.requests).toBe(2)
    const resumedAt = Number(/^bytes=(\d+)-/.exec(origin.log[1]?.headers.range ?? '')?.[1])
    expect(resumedAt).toBeGreaterThan(3 * MiB)
    expect(origin.log[1]?.headers['if-range']).toBe(origin.etag('/f'))
    expect(origin.bytesSent('/f') / data.length).toBeLessThanOrEqual(1.05)
  })

  it('resumes after a stall at 6 MiB once stallTimeoutMs passes', async () => {
    const data = bytes(8 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => (n === 1 ? { stallAfter: 6 * MiB } : undefined) })
    const events: HaulEvent[] = []
    const t0 = performance.now()
    const result = await download(origin.url('/f'), { output: join(dir, 'f.bin'), sha256: sha256(data), stallTimeoutMs: 2000, onEvent: (e) => events.push(e), ...quick })
    const seconds = (performance.now() - t0) / 1000
    expect(result.sha256).toBe(sha256(data))
    expect(seconds).toBeGreaterThan(1.9)
    expect(seconds).toBeLessThan(8)
    expect(events.some((e) => e.event === 'retry')).toBe(true)
    expect(origin.bytesSent('/f') / data.length).toBeLessThanOrEqual(1.05)
  })

  it.each([
    ['honoured', {}],
    ['ignored by the server', { ignoreIfRange: true }],
  ])('yields the new file whole when the remote changed between drop and resume (If-Range %s)', async (_, fault) => {
    const before = bytes(4 * MiB)
    const after = bytes(4 * MiB)
    const origin = await h.origin({
      files: { '/f': before },
      fault: ({ n }) => {
        if (n === 1) return { dropAfter: 2 * MiB }
        if (n === 2) origin.setFile('/f', after)
        return fault
      },
    })
    const output = join(dir, 'f.bin')
    const result = await download(origin.url('/f'), { output, ...quick })
    expect(result.sha256).toBe(sha256(after))
    expect((await readFile(output)).equals(after)).toBe(true)
  })

  it.each([
    ['honoured', undefined, [200, 200]],
    ['ignored by the server', { ignoreIfRange: true }, [200, 206, 200]],
  ])('yields the new file whole when the remote changed between two runs (If-Range %s)', async (_, fault, statuses) => {
    const before = bytes(8 * MiB)
    const after = bytes(8 * MiB)
    const origin = await h.origin({ files: { '/f': before }, fault: ({ n }) => (n === 1 ? { stallAfter: 6 * MiB } : fault) })
    const output = join(dir, 'f.bin')
    // The first run gives up on the stall (no retries) and leaves its partial staged.
    await expect(download(origin.url('/f'), { output, stallTimeoutMs: 1000, retries: 0 })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    const old = origin.etag('/f')
    origin.setFile('/f', after)
    const result = await download(origin.url('/f'), { output, ...quick })
    expect(result.sha256).toBe(sha256(after))
    expect((await readFile(output)).equals(after)).toBe(true)
    expect(origin.log[1]?.headers).toMatchObject({ range: expect.stringMatching(/^bytes=[1-9]\d*-/), 'if-range': old })
    expect(origin.log.map((r) => r.status)).toEqual(statuses)
    expect(await readdir(dir)).toEqual(['f.bin'])
  })

  it('yields the new file whole when the remote changed and only Last-Modified identifies it', async () => {
    const before = bytes(4 * MiB)
    const after = bytes(4 * MiB)
    const origin = await h.origin({
      files: { '/f': before },
      etag: false,
      fault: ({ n }) => {
        if (n === 1) return { dropAfter: 2 * MiB }
        if (n === 2) origin.setFile('/f', after)
        return undefined
      },
    })
    const result = await download(origin.url('/f'), { output: join(dir, 'f.bin'), ...quick })
    expect(result.sha256).toBe(sha256(after))
  })

  it('starts over when a server without ranges drops the connection', async () => {
    const data = bytes(4 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => ({ ignoreRange: true, ...(n === 1 ? { dropAfter: 2 * MiB } : {}) }) })
    const result = await download(origin.url('/f'), { output: join(dir, 'f.bin'), sha256: sha256(data), ...quick })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.requests).toBe(2)
  })

  it('never splices when the server answers the resume with a 206 from the wrong offset', async () => {
    const data = bytes(4 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => (n === 1 ? { dropAfter: 2 * MiB } : n === 2 ? { wrongStart: 0 } : undefined) })
    const output = join(dir, 'f.bin')
    const result = await download(origin.url('/f'), { output, sha256: sha256(data), ...quick })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.log.map((r) => [r.status, r.headers.range === undefined])).toEqual([
      [200, true],
      [206, false],
      [200, true],
    ])
  })

  it('waits out Retry-After: 1 on two 503s and succeeds on the third request', async () => {
    const data = bytes(64 * 1024)
    const origin = await h.origin({ files: { '/f': data }, fault: ({ n }) => (n <= 2 ? { status: 503, retryAfter: '1' } : undefined) })
    const events: HaulEvent[] = []
    const t0 = performance.now()
    const result = await download(origin.url('/f'), { output: join(dir, 'f.bin'), onEvent: (e) => events.push(e), ...quick })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.requests).toBe(3)
    expect(performance.now() - t0).toBeGreaterThan(1900)
    // The wait is reported from the moment of the event, a millisecond or two after the 503 came.
    const delays = events.flatMap((e) => (e.event === 'retry' ? [e.delayMs] : []))
    expect(delays).toHaveLength(2)
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(990)
      expect(d).toBeLessThanOrEqual(1000)
    }
  })

  it('fails fast on 404 with one request', async () => {
    const origin = await h.origin({})
    const t0 = performance.now()
    await expect(download(origin.url('/missing'), { output: join(dir, 'f.bin') })).rejects.toMatchObject({ code: 'HAUL_SOURCE', status: 404 })
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(origin.requests).toBe(1)
    expect(await readdir(dir)).toEqual([])
  })

  it('fails over from a closed port to a mirror in well under 10 s', async () => {
    const data = bytes(MiB)
    const mirror = await h.origin({ files: { '/f': data } })
    const events: HaulEvent[] = []
    const t0 = performance.now()
    const result = await download(`http://127.0.0.1:${await closedPort()}/f`, { output: join(dir, 'f.bin'), mirrors: [mirror.url('/f')], onEvent: (e) => events.push(e) })
    const seconds = (performance.now() - t0) / 1000
    expect(result.sha256).toBe(sha256(data))
    expect(result.source).toBe(mirror.url('/f'))
    expect(seconds).toBeLessThan(3)
    expect(events).toContainEqual(expect.objectContaining({ event: 'source', source: mirror.url('/f') }))
  })

  it('finishes a segmented download when the connection of one segment drops', async () => {
    const data = bytes(8 * MiB)
    const origin = await h.origin({ files: { '/f': data }, rateBytesPerSecond: 8 * MiB, fault: ({ n }) => (n === 3 ? { dropAfter: 100_000 } : undefined) })
    const result = await download(origin.url('/f'), { output: join(dir, 'f.bin'), connections: 4, sha256: sha256(data), ...quick })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.log.filter((r) => r.headers.range !== undefined).length).toBeGreaterThanOrEqual(3)
    expect(origin.bytesSent('/f') / data.length).toBeLessThanOrEqual(1.05)
  })

  it('is over 4x faster with 8 connections against a per-connection rate cap', async () => {
    const data = bytes(8 * MiB)
    const rate = 2 * MiB
    const origin = await h.origin({ files: { '/f': data }, rateBytesPerSecond: rate })
    const timed = async (connections: number, name: string): Promise<number> => {
      const t0 = performance.now()
      const result = await download(origin.url('/f'), { output: join(dir, name), connections, sha256: sha256(data) })
      expect(result.sha256).toBe(sha256(data))
      return (performance.now() - t0) / 1000
    }
    const one = await timed(1, 'one.bin')
    const eight = await timed(8, 'eight.bin')
    console.log(`-x 1: ${one.toFixed(2)} s, -x 8: ${eight.toFixed(2)} s, ratio ${(one / eight).toFixed(1)}`)
    expect(one / eight).toBeGreaterThan(4)
  })

  it('keeps header credentials for the main URL, away from a mirror on another origin', async () => {
    const data = bytes(64 * 1024)
    const main = await h.origin({ files: { '/f': data }, fault: () => ({ status: 500 }) })
    const mirror = await h.origin({ files: { '/f': data } })
    const result = await download(main.url('/f'), {
      output: join(dir, 'f.bin'),
      mirrors: [mirror.url('/f')],
      headers: { Authorization: 'Bearer main-only', 'X-Trace': 't' },
      retries: 0,
      ...quick,
    })
    expect(result.source).toBe(mirror.url('/f'))
    expect(main.log[0]?.headers.authorization).toBe('Bearer main-only')
    expect(mirror.log.length).toBeGreaterThan(0)
    for (const record of mirror.log) {
      expect(record.headers.authorization).toBeUndefined()
      expect(record.headers['x-trace']).toBe('t')
    }
  })
})
