// Servers that lie, through the whole download: whatever they send, the file at the path is the
// verified one or nothing is. Complements http-source.test.ts, errors.test.ts and redirects.test.ts,
// which check the same lies one request at a time (wrong start, gzip, short body, loops, https→http).
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Fault } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import { bytes, harness } from './helpers.js'

const MiB = 1024 * 1024
const h = harness()
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-hostile-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const quick = { backoff: { baseMs: 5, capMs: 20 }, retries: 3 }

/** Either the verified file is at `output`, or nothing is (a hidden partial may stay for resume). */
async function verifiedOrNothing(output: string, data: Buffer): Promise<'verified' | 'nothing'> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.'))
  if (names.length === 0) return 'nothing'
  expect(names).toEqual([output.split('/').at(-1)])
  expect((await readFile(output)).equals(data)).toBe(true)
  return 'verified'
}

describe('lying Content-Length', () => {
  it('a Content-Length smaller than the file: the short file fails its digest and nothing is committed', async () => {
    const data = bytes(2 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ contentLength: MiB }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, sha256: sha256(data), ...quick })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(await verifiedOrNothing(output, data)).toBe('nothing')
  })

  it('a Content-Length larger than the body once: the download resumes and lands whole', async () => {
    const data = bytes(2 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: (r) => (r.n === 1 ? { contentLength: 4 * MiB } : undefined) })
    const output = join(dir, 'f')
    await download(origin.url('/f'), { output, sha256: sha256(data), ...quick })
    expect(await verifiedOrNothing(output, data)).toBe('verified')
  })

  it('a Content-Length larger than the body every time: fails after the retries, nothing committed', async () => {
    const data = bytes(MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ contentLength: 2 * MiB }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, sha256: sha256(data), ...quick })).rejects.toMatchObject({ code: expect.stringMatching(/HAUL_SOURCE|HAUL_INTEGRITY/) })
    expect(await verifiedOrNothing(output, data)).toBe('nothing')
    expect(origin.requests).toBeLessThan(20)
  }, 15_000)

  it('a server without ranges that always drops halfway: haul gives up after bounded restarts', async () => {
    // Each attempt "makes progress" from byte 0 and loses it on the restart: progress must not
    // reset the retry budget forever.
    const data = bytes(2 * MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ ignoreRange: true, dropAfter: MiB }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, sha256: sha256(data), ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    expect(origin.requests).toBeLessThan(20)
    expect(await verifiedOrNothing(output, data)).toBe('nothing')
  }, 15_000)
})

describe('Content-Range nonsense on the resumed request', () => {
  // The first response drops at half; the second (the Range request) lies in its Content-Range.
  const lies: Array<[string, (size: number) => Fault]> = [
    ['negative start', () => ({ headers: { 'content-range': 'bytes -5-10/100' } })],
    ['end beyond the total', (size) => ({ headers: { 'content-range': `bytes ${size / 2}-${size * 4}/${size}` } })],
    ['end before start', (size) => ({ headers: { 'content-range': `bytes ${size / 2}-3/${size}` } })],
    ['another total', (size) => ({ headers: { 'content-range': `bytes ${size / 2}-${size - 1}/${size + 1}` } })],
    ['unknown total', (size) => ({ headers: { 'content-range': `bytes ${size / 2}-${size - 1}/*` } })],
    ['unsatisfied form', (size) => ({ headers: { 'content-range': `bytes */${size}` } })],
    ['garbage', () => ({ headers: { 'content-range': 'lol' } })],
    ['a 64-bit overflow', () => ({ headers: { 'content-range': 'bytes 18446744073709551615-18446744073709551616/18446744073709551617' } })],
    ['wrong start', (size) => ({ wrongStart: size / 4 })],
    ['no Content-Range at all', () => ({ omitContentRange: true })],
  ]
  for (const [name, lie] of lies) {
    it(`${name}: never spliced; the file lands whole`, async () => {
      const data = bytes(2 * MiB)
      const origin = await h.origin({ files: { '/f': data }, fault: (r) => (r.n === 1 ? { dropAfter: MiB } : r.range !== undefined ? lie(data.length) : undefined) })
      const output = join(dir, 'f')
      await download(origin.url('/f'), { output, ...quick })
      expect(await verifiedOrNothing(output, data)).toBe('verified')
    })
  }

  it('a 206 with a partial Content-Range to a request for the whole file is refused at once', async () => {
    const data = bytes(MiB)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ wrongStart: 100 }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    expect(origin.requests).toBe(1)
    expect(await verifiedOrNothing(output, data)).toBe('nothing')
  })
})

describe('redirects', () => {
  for (const location of ['ftp://127.0.0.1/f', 'file:///etc/passwd', 'data:text/plain,hello', 'javascript:alert(1)', 'gopher://127.0.0.1/']) {
    it(`to ${location.split(':')[0]}: refused at once, nothing fetched`, async () => {
      const origin = await h.origin({ redirects: { '/f': { location } } })
      const output = join(dir, 'f')
      await expect(download(origin.url('/f'), { output, ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: false })
      expect(origin.requests).toBe(1)
      expect(await readdir(dir)).toEqual([])
    })
  }

  it('a loop between two origins ends at once', async () => {
    const a = await h.origin({})
    const b = await h.origin({})
    a.setFault(() => ({ status: 302, body: '', headers: { location: b.url('/f') } }))
    b.setFault(() => ({ status: 302, body: '', headers: { location: a.url('/f') } }))
    await expect(download(a.url('/f'), { output: join(dir, 'f'), ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    expect(a.requests + b.requests).toBeLessThanOrEqual(25)
    expect(await readdir(dir)).toEqual([])
  })
})

describe('headers and encodings', () => {
  it('gigantic response headers are a source error, not a crash', async () => {
    const origin = await h.origin({ files: { '/f': bytes(1024) }, fault: () => ({ headers: { 'x-junk': 'a'.repeat(256 * 1024) } }) })
    await expect(download(origin.url('/f'), { output: join(dir, 'f'), ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    expect(await readdir(dir)).toEqual([])
  })

  it('a thousand response headers are a source error or ignored, never a crash', async () => {
    const data = bytes(1024)
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`x-h${i}`, 'v'.repeat(60)]))
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ headers: many }) })
    const output = join(dir, 'f')
    await download(origin.url('/f'), { output, sha256: sha256(data), ...quick }).catch((err: { code?: string }) => expect(err.code).toBe('HAUL_SOURCE'))
    expect(['verified', 'nothing']).toContain(await verifiedOrNothing(output, data))
  })

  it('gzip sent despite Accept-Encoding: identity on every request: nothing committed', async () => {
    const data = bytes(64 * 1024)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ gzip: true }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    expect(await readdir(dir)).toEqual([])
  })

  it('an HTML page with 200 where the file was: committed only when no digest says otherwise', async () => {
    const data = bytes(64 * 1024)
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ html: true }) })
    const output = join(dir, 'f')
    await expect(download(origin.url('/f'), { output, sha256: sha256(data), ...quick })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(await readdir(dir)).toEqual([])
  })
})

describe('slowloris', () => {
  it('a trickle of one byte a second is a stall under the minimum speed, and the download gives up', async () => {
    const origin = await h.origin({ files: { '/f': bytes(64 * 1024) }, rateBytesPerSecond: 1 })
    const started = Date.now()
    const output = join(dir, 'f')
    const error = await download(origin.url('/f'), { output, lowSpeedBytesPerSecond: 1024, lowSpeedWindowMs: 500, ...quick, retries: 1 }).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'HAUL_SOURCE' })
    expect((error as Error).message).toMatch(/speed|stall|slow/i)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(await readdir(dir).then((n) => n.filter((x) => !x.startsWith('.')))).toEqual([])
  })
})
