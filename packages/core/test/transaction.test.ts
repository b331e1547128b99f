import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HaulError, runDownload, type HaulEvent } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const MiB = 1024 * 1024

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-tx-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function collect(): { events: HaulEvent[]; onEvent: (e: HaulEvent) => void } {
  const events: HaulEvent[] = []
  return { events, onEvent: (e) => events.push(e) }
}

/** Runs a download of `source` into `out` and aborts it once `bytes` were served: a partial is left. */
async function abortAfter(source: MemorySource, out: string, bytes: number): Promise<void> {
  const controller = new AbortController()
  source.onServe = (served) => {
    if (served >= bytes) controller.abort()
  }
  await runDownload([source], { output: out, signal: controller.signal }).catch(() => undefined)
}

describe('runDownload', () => {
  it('downloads, verifies and commits, leaving only the file in the folder', async () => {
    const data = testBytes(3 * MiB)
    const source = new MemorySource(data)
    const { events, onEvent } = collect()
    const out = join(dir, 'file.bin')
    const result = await runDownload([source], { output: out, sha256: sha256(data), onEvent })
    expect(result).toMatchObject({ path: out, bytes: data.length, sha256: sha256(data), resumedFrom: 0, cached: false })
    expect(Buffer.compare(await readFile(out), data)).toBe(0)
    expect(await readdir(dir)).toEqual(['file.bin'])
    expect(events[0]?.event).toBe('start')
    expect(events.at(-1)).toEqual({ event: 'done', path: out, bytes: data.length, sha256: sha256(data) })
    const progress = events.filter((e) => e.event === 'progress').map((e) => (e as { bytes: number }).bytes)
    expect(progress.length).toBeGreaterThan(0)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
  })

  it('retries a dropped connection from where it stopped, fetching each byte about once', async () => {
    const data = testBytes(4 * MiB)
    // Its validator shows the retried range to be of the same file (without one, haul starts over).
    const source = new MemorySource(data, { validator: '"v1"', fault: (n) => (n === 1 ? { dropAfter: 2 * MiB } : undefined) })
    const { events, onEvent } = collect()
    const out = join(dir, 'f')
    await runDownload([source], { output: out, onEvent, backoff: { baseMs: 1 } })
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(source.reads[1]?.offset).toBe(2 * MiB)
    expect(source.bytesServed).toBe(data.length)
    expect(events.some((e) => e.event === 'retry')).toBe(true)
  })

  it('resumes after an abort from the journal, re-fetching at most one checkpoint', async () => {
    const data = testBytes(16 * MiB)
    const out = join(dir, 'f')
    const controller = new AbortController()
    const first = new MemorySource(data, { validator: '"v1"' })
    first.onServe = (served) => {
      if (served >= 9 * MiB) controller.abort()
    }
    const err = await runDownload([first], { output: out, signal: controller.signal }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HaulError)
    expect((err as HaulError).code).toBe('HAUL_ABORTED')
    const second = new MemorySource(data, { validator: '"v1"' })
    const result = await runDownload([second], { output: out })
    expect(result.resumedFrom).toBeGreaterThanOrEqual(8 * MiB)
    expect(second.reads[0]).toMatchObject({ offset: result.resumedFrom, validator: '"v1"' })
    expect(first.bytesServed + second.bytesServed).toBeLessThanOrEqual(data.length + 5 * MiB)
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('starts over with the new content whole when the remote changed between runs', async () => {
    const old = testBytes(6 * MiB, 1)
    const fresh = testBytes(5 * MiB, 2)
    const out = join(dir, 'f')
    await abortAfter(new MemorySource(old, { validator: '"old"' }), out, 3 * MiB)
    const changed = new MemorySource(fresh, { validator: '"new"' })
    const result = await runDownload([changed], { output: out })
    expect(result.bytes).toBe(fresh.length)
    expect(sha256(await readFile(out))).toBe(sha256(fresh))
  })

  it('never splices when a source ignores the validator and answers a range of new content', async () => {
    const old = testBytes(6 * MiB, 1)
    const fresh = testBytes(6 * MiB, 2)
    const out = join(dir, 'f')
    await abortAfter(new MemorySource(old, { validator: '"old"' }), out, 3 * MiB)
    // This source pretends the range is fine (no restart) but reports its new validator.
    const liar = new MemorySource(fresh, { validator: '"new"' })
    liar.read = (async (req) => {
      const res = await MemorySource.prototype.read.call(liar, { ...req, validator: '"new"' })
      return res
    }) as MemorySource['read']
    await runDownload([liar], { output: out })
    expect(sha256(await readFile(out))).toBe(sha256(fresh))
  })

  it('starts over in place when a source cannot resume (answers from byte 0)', async () => {
    const data = testBytes(4 * MiB)
    const source = new MemorySource(data, { fault: (n) => (n === 1 ? { dropAfter: 1 * MiB } : undefined) })
    source.ranges = false
    const out = join(dir, 'f')
    await runDownload([source], { output: out, backoff: { baseMs: 1 } })
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(source.reads.length).toBe(2)
  })

  it('fails with HAUL_INTEGRITY on a digest mismatch, removing the staged bytes and committing nothing', async () => {
    const data = testBytes(2 * MiB)
    const out = join(dir, 'f')
    await writeFile(out, 'previous version')
    const err = (await runDownload([new MemorySource(data)], { output: out, sha256: 'a'.repeat(64) }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_INTEGRITY')
    expect(err.expected).toBe(`sha256:${'a'.repeat(64)}`)
    expect(err.actual).toBe(`sha256:${sha256(data)}`)
    expect(await readFile(out, 'utf8')).toBe('previous version')
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('rejects malformed digests with HAUL_USAGE before any read', async () => {
    const source = new MemorySource(testBytes(10))
    const err = (await runDownload([source], { output: join(dir, 'f'), sha256: 'xyz' }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_USAGE')
    expect(source.reads.length).toBe(0)
  })

  it('fails HAUL_NO_SPACE before writing when the size cannot fit (preflight), leaving nothing', async () => {
    const source = new MemorySource(testBytes(1024))
    source.read = (async (req) => {
      const res = await MemorySource.prototype.read.call(source, req)
      return { ...res, info: { ...res.info, size: 2 ** 50 } }
    }) as MemorySource['read']
    const err = (await runDownload([source], { output: join(dir, 'f') }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_NO_SPACE')
    expect(err.needed).toBeGreaterThan(2 ** 50 - 1)
    expect(source.bytesServed).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('fails fast on a permanent source error and leaves the folder empty', async () => {
    const source = new MemorySource(testBytes(1024), { fault: () => ({ error: new HaulError('HAUL_SOURCE', '404 Not Found', { status: 404, transient: false }) }) })
    const started = Date.now()
    const err = (await runDownload([source], { output: join(dir, 'f') }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_SOURCE')
    expect(err.status).toBe(404)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(source.reads.length).toBe(1)
    expect(await readdir(dir)).toEqual([])
  })

  it('honours Retry-After on transient errors and gives up after the retry budget', async () => {
    const busy = new HaulError('HAUL_SOURCE', '503', { status: 503, transient: true, retryAfterMs: 100 })
    const source = new MemorySource(testBytes(1024), { fault: () => ({ error: busy }) })
    const { events, onEvent } = collect()
    const err = (await runDownload([source], { output: join(dir, 'f'), retries: 2, onEvent }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_SOURCE')
    expect(source.reads.length).toBe(3)
    const retries = events.filter((e) => e.event === 'retry')
    expect(retries.map((e) => (e as { delayMs: number }).delayMs).every((d) => d >= 50 && d <= 100)).toBe(true)
    expect(events.at(-1)?.event).toBe('error')
  })

  it('fails over to a mirror when the primary is down, without waiting for backoff', async () => {
    const data = testBytes(MiB)
    const down = new MemorySource(data, { id: 'mem://primary', fault: () => ({ error: new HaulError('HAUL_SOURCE', 'ECONNREFUSED', { transient: true }) }) })
    const mirror = new MemorySource(data, { id: 'mem://mirror' })
    const { events, onEvent } = collect()
    const started = Date.now()
    const result = await runDownload([down, mirror], { output: join(dir, 'f'), onEvent, backoff: { baseMs: 60_000, capMs: 60_000 } })
    expect(Date.now() - started).toBeLessThan(5000)
    expect(result.source).toBe('mem://mirror')
    expect(events).toContainEqual(expect.objectContaining({ event: 'source', source: 'mem://mirror' }))
  })

  it('drops a lying source and lands the honest one; fails HAUL_INTEGRITY when all lie', async () => {
    const data = testBytes(MiB)
    const integrity = new HaulError('HAUL_INTEGRITY', 'bad block', { transient: false })
    const liar = new MemorySource(data, { id: 'mem://a', fault: () => ({ error: integrity }) })
    const honest = new MemorySource(data, { id: 'mem://b' })
    await runDownload([liar, honest], { output: join(dir, 'ok') })
    expect(sha256(await readFile(join(dir, 'ok')))).toBe(sha256(data))
    const l1 = new MemorySource(data, { id: 'mem://a', fault: () => ({ error: integrity }) })
    const l2 = new MemorySource(data, { id: 'mem://b', fault: () => ({ error: integrity }) })
    const err = (await runDownload([l1, l2], { output: join(dir, 'bad') }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_INTEGRITY')
    expect(err.message).toMatch(/did not match/)
  })

  it('detects a stall and resumes where the bytes stopped', async () => {
    const data = testBytes(3 * MiB)
    const source = new MemorySource(data, { fault: (n) => (n === 1 ? { stallAfter: MiB } : undefined) })
    const { events, onEvent } = collect()
    await runDownload([source], { output: join(dir, 'f'), stallTimeoutMs: 300, onEvent, backoff: { baseMs: 1 } })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(source.reads[1]?.offset).toBe(MiB)
    expect(events).toContainEqual(expect.objectContaining({ event: 'retry', reason: expect.stringMatching(/stalled/) }))
  })

  it('fills segments over several connections and hashes them in order', async () => {
    const data = testBytes(12 * MiB)
    const source = new MemorySource(data)
    const result = await runDownload([source], { output: join(dir, 'f'), connections: 4, sha256: sha256(data) })
    expect(result.sha256).toBe(sha256(data))
    expect(source.reads.length).toBeGreaterThanOrEqual(4)
    expect(source.bytesServed).toBeLessThan(data.length * 1.2)
  })

  it('writes and hashes the very buffers a source read into (ReadRequest.buffers), alone and over several connections, across a drop', async () => {
    // Over the hash thread's threshold, so a buffer that reached the digest uncopied comes back detached.
    const data = testBytes(20 * MiB + 777)
    for (const connections of [1, 4]) {
      const source = new MemorySource(data, { fault: (n) => (n === 2 ? { dropAfter: MiB + 5 } : undefined) })
      source.lend = true
      const out = join(dir, `f${connections}`)
      const result = await runDownload([source], { output: out, connections, sha256: sha256(data), backoff: { baseMs: 1 } })
      expect(result.sha256).toBe(sha256(data))
      expect(sha256(await readFile(out))).toBe(sha256(data))
      expect(source.lentBuffers.length).toBeGreaterThan(0)
      // Transferred to the hash thread: the source's own view of that memory is now empty.
      if (connections === 1) expect(source.lentBuffers.filter((b) => b.byteLength === 0).length).toBeGreaterThan(source.lentBuffers.length / 2)
    }
  })

  it('skips the download when the destination already has the expected digest', async () => {
    const data = testBytes(MiB)
    const out = join(dir, 'f')
    await writeFile(out, data)
    const source = new MemorySource(data)
    const result = await runDownload([source], { output: out, sha256: sha256(data) })
    expect(result.cached).toBe(true)
    expect(source.reads.length).toBe(0)
  })

  it('accepts SRI, multihash and ALGO:HEX spellings of the expected digest', async () => {
    const data = testBytes(MiB)
    const sri = `sha512-${createHash('sha512').update(data).digest('base64')}`
    const multihash = `1220${sha256(data)}`
    const checksum = `blake3:${(await import('hash-wasm')).blake3 === undefined ? '' : await (await import('hash-wasm')).blake3(data)}`
    const result = await runDownload([new MemorySource(data)], { output: join(dir, 'f'), integrity: sri, multihash, checksum })
    expect(result.sha256).toBe(sha256(data))
  })

  it('rejects a source whose bytes differ when SRI lists only wrong digests', async () => {
    const data = testBytes(1000)
    const wrong = `sha256-${createHash('sha256').update('x').digest('base64')}`
    const err = (await runDownload([new MemorySource(data)], { output: join(dir, 'f'), integrity: wrong }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_INTEGRITY')
  })

  it('downloads to a 255-byte file name (the staging name is shortened, not the file)', async () => {
    const data = testBytes(1000)
    const name = `${'n'.repeat(251)}.bin`
    const result = await runDownload([new MemorySource(data)], { output: join(dir, name) })
    expect(result.bytes).toBe(1000)
    expect(await readdir(dir)).toEqual([name])
  })

  it('downloads a source of unknown size to the end of its stream', async () => {
    const data = testBytes(2 * MiB + 123)
    const source = new MemorySource(data)
    source.read = (async (req) => {
      const res = await MemorySource.prototype.read.call(source, req)
      return { ...res, info: { ranges: true } }
    }) as MemorySource['read']
    const result = await runDownload([source], { output: join(dir, 'f') })
    expect(result.bytes).toBe(data.length)
  })
})
