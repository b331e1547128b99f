import { createHash } from 'node:crypto'
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HaulError, runDownload, type HaulEvent, type RestartEvent } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

// Staged bytes belong to the destination and to the remote's validators, not to a URL string or
// a digest's text; without a validator only a digest may vouch for them; never a splice.

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const MiB = 1024 * 1024

let dir: string
let out: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-resume-'))
  out = join(dir, 'f')
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function collect(): { events: HaulEvent[]; onEvent: (e: HaulEvent) => void } {
  const events: HaulEvent[] = []
  return { events, onEvent: (e) => events.push(e) }
}

const restarts = (events: HaulEvent[]): RestartEvent[] => events.filter((e): e is RestartEvent => e.event === 'restart')

/** Downloads `source` into `out` and aborts once `bytes` were served; returns what was staged. */
async function partial(source: MemorySource, bytes: number, options: { sha256?: string } = {}): Promise<void> {
  const controller = new AbortController()
  source.onServe = (served) => {
    if (served >= bytes) controller.abort()
  }
  const err = await runDownload([source], { output: out, signal: controller.signal, ...options }).catch((e: unknown) => e)
  expect((err as HaulError).code).toBe('HAUL_ABORTED')
}

describe('resume identity', () => {
  it('keeps the staged bytes when the URL changes (a fresh signed query) but the validator is the same', async () => {
    const data = testBytes(8 * MiB)
    await partial(new MemorySource(data, { id: 'mem://f?sig=one', validator: '"v1"' }), 4 * MiB)
    const second = new MemorySource(data, { id: 'mem://f?sig=two', validator: '"v1"' })
    const { events, onEvent } = collect()
    const result = await runDownload([second], { output: out, onEvent })
    expect(result.resumedFrom).toBeGreaterThanOrEqual(3 * MiB)
    // The first read is made conditional on the validator recorded under the old URL.
    expect(second.reads[0]).toMatchObject({ offset: result.resumedFrom, validator: '"v1"' })
    expect(second.bytesServed).toBe(data.length - result.resumedFrom)
    expect(restarts(events)).toEqual([])
    expect(sha256(await readFile(out))).toBe(sha256(data))
  })

  it.each([
    ['the same validator', '"v1"'],
    ['no validator at all: the digest vouches for them', undefined],
  ])('keeps the staged bytes when a digest is added on the second run (%s), and checks them against it', async (_, validator) => {
    const data = testBytes(8 * MiB)
    await partial(new MemorySource(data, { validator }), 4 * MiB)
    const second = new MemorySource(data, { validator })
    const result = await runDownload([second], { output: out, sha256: sha256(data) })
    expect(result.resumedFrom).toBeGreaterThanOrEqual(3 * MiB)
    expect(second.bytesServed).toBe(data.length - result.resumedFrom)
  })

  it('starts over, saying so, when the URL changes and the validator does too', async () => {
    const old = testBytes(8 * MiB, 1)
    const fresh = testBytes(8 * MiB, 2)
    await partial(new MemorySource(old, { id: 'mem://f?sig=one', validator: '"v1"' }), 4 * MiB)
    const second = new MemorySource(fresh, { id: 'mem://f?sig=two', validator: '"v2"' })
    const { events, onEvent } = collect()
    const result = await runDownload([second], { output: out, onEvent })
    expect(result.resumedFrom).toBe(0)
    expect(restarts(events)).toHaveLength(1)
    expect(restarts(events)[0]!.discarded).toBeGreaterThan(0)
    expect(sha256(await readFile(out))).toBe(sha256(fresh))
  })
})

describe('a remote without validators', () => {
  it('a dropped connection starts over from 0 (nothing shows the retried range is the same file)', async () => {
    const data = testBytes(4 * MiB)
    const source = new MemorySource(data, { fault: (n) => (n === 1 ? { dropAfter: 2 * MiB } : undefined) })
    const { events, onEvent } = collect()
    await runDownload([source], { output: out, onEvent, backoff: { baseMs: 1 } })
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(restarts(events)).toHaveLength(1)
    expect(source.reads.at(-1)?.offset).toBe(0)
  })

  it('staged bytes from an earlier run are dropped before any request when no digest can vouch for them', async () => {
    const old = testBytes(8 * MiB, 1)
    const fresh = testBytes(8 * MiB, 2)
    await partial(new MemorySource(old), 4 * MiB)
    const second = new MemorySource(fresh)
    const { events, onEvent } = collect()
    const result = await runDownload([second], { output: out, onEvent })
    expect(result.resumedFrom).toBe(0)
    expect(second.reads.map((r) => r.offset)).toEqual([0])
    expect(events.map((e) => e.event).slice(0, 2)).toEqual(['start', 'restart'])
    expect(sha256(await readFile(out))).toBe(sha256(fresh)) // the new file, not old bytes + new ones
  })

  it('uses one connection even with connections: 4 (segments of two versions could be spliced)', async () => {
    const data = testBytes(16 * MiB)
    const source = new MemorySource(data)
    await runDownload([source], { output: out, connections: 4 })
    expect(source.reads).toHaveLength(1)
    expect(sha256(await readFile(out))).toBe(sha256(data))
  })

  it('when the digest then fails, the file is fetched whole once before the digest is blamed', async () => {
    const old = testBytes(8 * MiB, 1)
    const fresh = testBytes(8 * MiB, 2)
    await partial(new MemorySource(old), 4 * MiB)
    const second = new MemorySource(fresh)
    const { events, onEvent } = collect()
    const result = await runDownload([second], { output: out, sha256: sha256(fresh), onEvent })
    expect(result.sha256).toBe(sha256(fresh))
    expect(result.resumedFrom).toBe(0)
    expect(restarts(events)).toHaveLength(1)
    expect(sha256(await readFile(out))).toBe(sha256(fresh))
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('a digest that matches neither version fails as HAUL_INTEGRITY after one whole fetch, removing the staged bytes', async () => {
    const old = testBytes(8 * MiB, 1)
    await partial(new MemorySource(old), 4 * MiB)
    const second = new MemorySource(testBytes(8 * MiB, 2))
    const { events, onEvent } = collect()
    const err = (await runDownload([second], { output: out, sha256: sha256(Buffer.from('neither')), onEvent }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_INTEGRITY')
    expect(restarts(events)).toHaveLength(1)
    expect(await readdir(dir)).toEqual([])
  })
})

describe('answers and events that tell the truth', () => {
  it('a 200 where a 206 was asked, with four connections, goes on as the body: one restart, no internal error, no zero-delay retries', async () => {
    const data = testBytes(32 * MiB)
    const source = new MemorySource(data, { validator: '"v1"', fault: (n) => (n > 1 ? { restart: true } : undefined) })
    const { events, onEvent } = collect()
    const result = await runDownload([source], { output: out, connections: 4, onEvent })
    expect(result.sha256).toBe(sha256(data))
    expect(restarts(events)).toHaveLength(1)
    expect(events.filter((e) => e.event === 'retry')).toEqual([])
    // After the whole-file answer, nothing more is asked of the source.
    expect(source.reads.length).toBeLessThanOrEqual(1 + 3)
  })

  it('a remote that changes on every read fails as HAUL_SOURCE after a bounded number of restarts, not HAUL_INTERNAL', async () => {
    const data = testBytes(4 * MiB)
    const source = new MemorySource(data, { validator: '"v0"', fault: () => ({ dropAfter: MiB }) })
    let n = 0
    const read = source.read.bind(source)
    source.read = async (request) => {
      const res = await read(request)
      source.validator = `"v${++n}"`
      return { ...res, info: { ...res.info, validator: source.validator } }
    }
    const { events, onEvent } = collect()
    const err = (await runDownload([source], { output: out, onEvent, backoff: { baseMs: 1 } }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_SOURCE')
    expect(restarts(events).length).toBeGreaterThan(0)
    expect(restarts(events).length).toBeLessThanOrEqual(3)
  })

  it('start carries the total of a fresh download; retries count from 1; the final message says haul gave up', async () => {
    const data = testBytes(MiB)
    const ok = new MemorySource(data)
    const first = collect()
    await runDownload([ok], { output: out, onEvent: first.onEvent })
    expect(first.events[0]).toMatchObject({ event: 'start', total: data.length, resumedFrom: 0 })

    const busy = new HaulError('HAUL_SOURCE', '503 Service Unavailable; the server may recover.', { status: 503, transient: true })
    const down = new MemorySource(data, { fault: () => ({ error: busy }) })
    const second = collect()
    const err = (await runDownload([down], { output: join(dir, 'g'), retries: 2, backoff: { baseMs: 1 }, onEvent: second.onEvent }).catch((e: unknown) => e)) as HaulError
    expect(second.events.filter((e) => e.event === 'retry').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2])
    expect(err.code).toBe('HAUL_SOURCE')
    expect(err.message).toMatch(/gave up after 3 attempts/)
    expect(second.events[0]?.event).toBe('start')
    expect(second.events.at(-1)).toMatchObject({ event: 'error', message: err.message })
  })
})
