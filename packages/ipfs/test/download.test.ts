import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UnixfsStore, trackGateways } from '@haul/testkit'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { download, isHaulError, type HaulEvent } from '../src/index.js'

const KiB = 1024
const gateways = trackGateways({ lifetimeMs: 30_000 })
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-ipfs-'))
})
afterEach(async () => {
  await gateways.closeAll()
  await rm(dir, { recursive: true, force: true })
})

const gateway = gateways.start

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
/** Fast, deterministic retries so tests don't wait on real backoff. */
const quick = { backoff: { baseMs: 1, capMs: 5 }, stallTimeoutMs: 10_000 }

describe('download', () => {
  it('downloads a CIDv0 file and commits it with its sha256', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(1100 * KiB)
    const cid = await store.addFile(content)
    const g = await gateway({ store })
    const output = join(dir, 'out.bin')
    const events: HaulEvent[] = []
    const result = await download(`ipfs://${cid}`, { output, gateways: [g.url], onEvent: (e) => events.push(e), ...quick })
    expect((await readFile(output)).equals(content)).toBe(true)
    expect(result).toMatchObject({ path: output, bytes: content.length, sha256: sha256(content), cached: false })
    expect(events.at(-1)?.event).toBe('done')
    expect(await readdir(dir)).toEqual(['out.bin'])
  })

  it('downloads a path inside a HAMT-sharded directory', async () => {
    const store = new UnixfsStore()
    const files = Array.from({ length: 200 }, (_, i) => ({ path: `d/f${i}.bin`, content: randomBytes(100 + i) }))
    const added = await store.addDirectory(files, { shardSplitThresholdBytes: 1, profile: 'raw-leaves' })
    const g = await gateway({ store })
    const output = join(dir, 'f123.bin')
    await download(`/ipfs/${added.cid}/d/f123.bin`, { output, gateways: [g.url], ...quick })
    expect((await readFile(output)).equals(files[123]!.content)).toBe(true)
  })

  it('answers an identity CID inline, with no request', async () => {
    const g = await gateway()
    const bytes = new TextEncoder().encode('inline content')
    const cid = CID.createV1(raw.code, identity.digest(bytes))
    const output = join(dir, 'inline.txt')
    const result = await download(cid.toString(), { output, gateways: [g.url], ...quick })
    expect(await readFile(output, 'utf8')).toBe('inline content')
    expect(result.sha256).toBe(sha256(bytes))
    expect(g.requests).toHaveLength(0)
  })

  it('rejects a malformed CID before any request', async () => {
    const g = await gateway()
    await expect(download('ipfs://bafy-not-a-cid', { output: join(dir, 'x'), gateways: [g.url] })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(g.requests).toHaveLength(0)
  })

  it('passes over gateways answering 429, HTML and corrupt blocks; the good one\'s bytes land', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(900 * KiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    const busy = await gateway({ store, fault: { status: 429, retryAfter: '1' } })
    const html = await gateway({ store, fault: { html200: true } })
    const corrupt = await gateway({ store, fault: { corruptBlocks: [1] } })
    const good = await gateway({ store })
    const output = join(dir, 'out.bin')
    const result = await download(cid.toString(), { output, gateways: [busy.url, html.url, corrupt.url, good.url], ...quick })
    expect((await readFile(output)).equals(content)).toBe(true)
    expect(result.sha256).toBe(sha256(content))
    expect(good.requests.length).toBeGreaterThan(0)
    // liars are dropped after one lie
    expect(html.requests).toHaveLength(1)
    expect(corrupt.requests).toHaveLength(1)
  })

  it('fails with HAUL_INTEGRITY when every gateway lies, and commits nothing', async () => {
    const store = new UnixfsStore()
    const cid = await store.addFile(randomBytes(600 * KiB), { profile: 'raw-leaves' })
    const a = await gateway({ store, fault: { corruptBlocks: 'all' } })
    const b = await gateway({ store, fault: { html200: true } })
    const c = await gateway({ store, fault: { corruptBlocks: [2] } })
    const output = join(dir, 'out.bin')
    const error = await download(cid.toString(), { output, gateways: [a.url, b.url, c.url], ...quick }).catch((err: unknown) => err)
    expect(isHaulError(error, 'HAUL_INTEGRITY')).toBe(true)
    expect(await readdir(dir)).not.toContain('out.bin')
  })

  it('continues on a second gateway when the first drops at half, fetching at most 1.3x the file', async () => {
    const store = new UnixfsStore()
    const size = 4 * 1024 * KiB
    const content = randomBytes(size)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    // after the drop the first gateway is busy for a minute, so the rest must come from the second
    const first = await gateway({ store, faults: [{ dropAfter: size / 2 }], fault: { status: 503, retryAfter: '60' } })
    const second = await gateway({ store })
    const output = join(dir, 'out.bin')
    const result = await download(cid.toString(), { output, gateways: [first.url, second.url], ...quick })
    expect((await readFile(output)).equals(content)).toBe(true)
    const total = first.bytesSent() + second.bytesSent()
    expect(total / size).toBeLessThanOrEqual(1.3)
    expect(second.requests).toHaveLength(1)
    expect(second.requests[0]?.url).toMatch(/entity-bytes=[1-9]\d*:(\d+|\*)$/)
    console.info(`drop at half: ${first.bytesSent()} + ${second.bytesSent()} bytes sent for ${size} (${(total / size).toFixed(3)}x)`)
    expect(result.sha256).toBe(sha256(content))
  })

  it('uses raw blocks from a gateway that cannot do CAR', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(1024 * KiB)
    const cid = await store.addFile(content)
    const g = await gateway({ store, fault: { noCar: true } })
    const output = join(dir, 'out.bin')
    await download(cid.toString(), { output, gateways: [g.url], ...quick })
    expect((await readFile(output)).equals(content)).toBe(true)
  })

  it('reads HAUL_GATEWAYS when no gateways are given', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(10 * KiB)
    const cid = await store.addFile(content)
    const g = await gateway({ store })
    const saved = process.env.HAUL_GATEWAYS
    process.env.HAUL_GATEWAYS = ` ${g.url} ,`
    try {
      await download(cid.toString(), { output: join(dir, 'env.bin'), ...quick })
    } finally {
      if (saved === undefined) delete process.env.HAUL_GATEWAYS
      else process.env.HAUL_GATEWAYS = saved
    }
    expect((await readFile(join(dir, 'env.bin'))).equals(content)).toBe(true)
  })
})
