import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { isHaulError, type ReadResponse } from '@haul/core'
import { UnixfsStore, trackGateways } from '@haul/testkit'
import type { CID } from 'multiformats/cid'
import { GatewayGroup } from '../src/block-fetcher.js'
import { GatewaySource } from '../src/gateway-source.js'
import { readUntilError } from './helpers.js'

const KiB = 1024
const gateways = trackGateways({ lifetimeMs: 30_000 })
afterEach(async () => {
  await gateways.closeAll()
})

const gateway = gateways.start

async function collect(response: ReadResponse): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of response.body) parts.push(chunk)
  return Buffer.concat(parts)
}

async function readAll(source: GatewaySource, offset = 0, end?: number): Promise<{ response: ReadResponse; bytes: Buffer }> {
  const response = await source.read({ offset, ...(end === undefined ? {} : { end }), signal: AbortSignal.timeout(20_000) })
  return { response, bytes: await collect(response) }
}

describe('GatewaySource', () => {
  it('reads a CIDv0 file with dag-pb leaves (kubo defaults) and reports its size and CID', async () => {
    const g = await gateway()
    const content = randomBytes(1100 * KiB)
    const cid = await g.store.addFile(content)
    expect(cid.version).toBe(0)
    const { response, bytes } = await readAll(new GatewaySource(g.url, `ipfs://${cid}`))
    expect(bytes.equals(content)).toBe(true)
    expect(response.offset).toBe(0)
    expect(response.info).toMatchObject({ size: content.length, validator: cid.toString(), ranges: true })
    expect(g.requests).toHaveLength(1)
    expect(g.requests[0]?.format).toBe('car')
  })

  it('reads a CIDv1 file with raw leaves', async () => {
    const g = await gateway()
    const content = randomBytes(700 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    expect(cid.version).toBe(1)
    const { bytes } = await readAll(new GatewaySource(g.url, `/ipfs/${cid}`))
    expect(bytes.equals(content)).toBe(true)
  })

  it('reads a single-block file (data inline in the root) and a single raw block', async () => {
    const g = await gateway()
    const small = randomBytes(1000)
    const v0 = await g.store.addFile(small)
    const v1 = await g.store.addFile(small, { profile: 'raw-leaves' })
    expect((await readAll(new GatewaySource(g.url, v0.toString()))).bytes.equals(small)).toBe(true)
    expect((await readAll(new GatewaySource(g.url, v1.toString()))).bytes.equals(small)).toBe(true)
    expect(g.requests.map((r) => r.blocks.length)).toEqual([1, 1])
  })

  it('reads a deep tree (small chunks, few links per node) whole and from any offset', async () => {
    const g = await gateway()
    const content = randomBytes(64 * KiB + 123)
    const cid = await g.store.addFile(content, { chunkSize: 1000, maxChildrenPerNode: 4 })
    const source = new GatewaySource(g.url, cid.toString())
    expect((await readAll(source)).bytes.equals(content)).toBe(true)
    for (const [from, to] of [[1, 2], [999, 1001], [4000, 4000 + 3000], [content.length - 5, content.length], [12_345, undefined]] as const) {
      const { bytes, response } = await readAll(source, from, to)
      expect(response.offset).toBe(from)
      expect(bytes.equals(content.subarray(from, to))).toBe(true)
    }
  })

  it('resumes from an offset fetching only the blocks that cover the rest', async () => {
    const g = await gateway()
    const content = randomBytes(2 * 1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const offset = 1536 * KiB + 10
    const { bytes } = await readAll(new GatewaySource(g.url, cid.toString()), offset)
    expect(bytes.equals(content.subarray(offset))).toBe(true)
    // root + the two 256 KiB leaves covering the last 512 KiB
    expect(g.requests[0]?.blocks).toHaveLength(3)
    expect(g.requests[0]?.bytesSent).toBeLessThan(600 * KiB)
  })

  it('resolves a path inside a directory, verified from the root', async () => {
    const g = await gateway()
    const a = randomBytes(300 * KiB)
    const dir = await g.store.addDirectory([
      { path: 'a/b/file.bin', content: a },
      { path: 'other.txt', content: randomBytes(10) },
    ])
    const { bytes, response } = await readAll(new GatewaySource(g.url, `ipfs://${dir.cid}/a/b/file.bin`))
    expect(bytes.equals(a)).toBe(true)
    expect(response.info.fileName).toBe('file.bin')
    expect(response.info.validator).toBe(dir.entries.get('a/b/file.bin')?.toString())
  })

  it('resolves a path inside a HAMT-sharded directory', async () => {
    const g = await gateway()
    const files = Array.from({ length: 300 }, (_, i) => ({ path: `f${i}.txt`, content: new TextEncoder().encode(`file number ${i}\n`) }))
    const dir = await g.store.addDirectory(files, { shardSplitThresholdBytes: 1 })
    for (const i of [0, 17, 299]) {
      const { bytes } = await readAll(new GatewaySource(g.url, `ipfs://${dir.cid}/f${i}.txt`))
      expect(bytes.toString()).toBe(`file number ${i}\n`)
    }
    // shards were actually used: the path proof holds more than the root block
    expect(g.requests[0]?.blocks.length).toBeGreaterThan(2)
  })

  it('says a missing path entry is a usage error', async () => {
    const g = await gateway()
    const dir = await g.store.addDirectory([{ path: 'x.txt', content: randomBytes(10) }])
    await expect(new GatewaySource(g.url, `${dir.cid}/nope.txt`).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: expect.stringMatching(/HAUL_USAGE|HAUL_SOURCE/) })
  })

  it('fails with HAUL_INTEGRITY before yielding any byte of a corrupt block', async () => {
    const g = await gateway({ faults: [{ corruptBlocks: [2] }] })
    const content = randomBytes(1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const response = await new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })
    const { bytes: yielded, error } = await readUntilError(response)
    expect(isHaulError(error, 'HAUL_INTEGRITY')).toBe(true)
    expect(error).toMatchObject({ transient: false, source: g.url })
    // blocks: root, leaf0, leaf1 (corrupt): only leaf0's bytes came through
    expect(yielded.length).toBe(256 * KiB)
    expect(yielded.equals(content.subarray(0, 256 * KiB))).toBe(true)
  })

  it('blocks verified ahead of the walk (on the hash thread) still fail in stream order: every byte before a corrupt block, none after', async () => {
    // root + 16 leaves of 256 KiB; sent block 10 is leaf 9. The reader runs up to 16 sections ahead.
    const g = await gateway({ faults: [{ corruptBlocks: [10] }] })
    const content = randomBytes(4096 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const response = await new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })
    const { bytes: yielded, error } = await readUntilError(response)
    expect(isHaulError(error, 'HAUL_INTEGRITY')).toBe(true)
    expect(yielded.length).toBe(9 * 256 * KiB)
    expect(yielded.equals(content.subarray(0, 9 * 256 * KiB))).toBe(true)
    // The same gateway, healthy now, serves the whole file byte for byte.
    expect((await readAll(new GatewaySource(g.url, cid.toString()))).bytes.equals(content)).toBe(true)
  })

  it('with reuseChunks, block memory is reused for later sections; a reader that copies each chunk gets every byte right', async () => {
    const g = await gateway()
    // 342 raw leaves of 48 KiB: most span two network chunks (copied into memory of their own), and
    // all are small enough to be hashed here, so their memory keeps its identity (a trip to the
    // hash thread would hand back the same memory as a new ArrayBuffer object).
    const content = randomBytes(16 * 1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves', chunkSize: 48 * KiB })
    const read = async (reuseChunks: boolean): Promise<{ bytes: Buffer; chunks: number; memories: number }> => {
      const response = await new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(20_000), reuseChunks })
      const copies: Buffer[] = []
      const memories = new Set<ArrayBufferLike>()
      for await (const chunk of response.body) {
        copies.push(Buffer.from(chunk))
        memories.add(chunk.buffer)
      }
      return { bytes: Buffer.concat(copies), chunks: copies.length, memories: memories.size }
    }
    const reused = await read(true)
    expect(reused.bytes.equals(content)).toBe(true)
    expect(reused.chunks).toBe(342)
    expect(reused.memories).toBeLessThanOrEqual(171)
    // Without it (a caller that may keep chunks), every block has memory of its own.
    const fresh = await read(false)
    expect(fresh.bytes.equals(content)).toBe(true)
    expect(fresh.memories).toBe(fresh.chunks)
  })

  it('repeated blocks come out right with reuseChunks, whether the gateway repeats them (dups=y) or sends each once (dups=n)', async () => {
    const [a, b, c] = [randomBytes(256 * KiB), randomBytes(256 * KiB), randomBytes(256 * KiB)]
    const content = Buffer.concat([a, b, a, c, a, a])
    for (const noDups of [false, true]) {
      const g = await gateway({ fault: { noDups } })
      const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
      const response = await new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000), reuseChunks: true })
      const copies: Buffer[] = []
      for await (const chunk of response.body) copies.push(Buffer.from(chunk))
      expect(Buffer.concat(copies).equals(content)).toBe(true)
      // root + 6 leaves with duplicates, root + 3 distinct leaves without
      expect(g.requests.at(-1)?.blocks.length).toBe(noDups ? 4 : 7)
    }
  })

  it('fails with HAUL_INTEGRITY when the root block is corrupt, before returning', async () => {
    const g = await gateway({ fault: { corruptBlocks: 'all' } })
    const cid = await g.store.addFile(randomBytes(5000))
    await expect(new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('treats an HTML page with 200 as an integrity failure', async () => {
    const g = await gateway({ fault: { html200: true } })
    const cid = await g.store.addFile(randomBytes(5000))
    await expect(new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY', transient: false })
  })

  it('falls back to raw blocks when the gateway refuses CAR, and stays on raw', async () => {
    const g = await gateway({ fault: { noCar: true } })
    const content = randomBytes(1100 * KiB)
    const cid = await g.store.addFile(content)
    const source = new GatewaySource(g.url, cid.toString())
    expect((await readAll(source)).bytes.equals(content)).toBe(true)
    expect(g.requests[0]?.status).toBe(406)
    expect(g.requests.slice(1).every((r) => r.format === 'raw' && r.status === 200)).toBe(true)
    const before = g.requests.length
    const offset = 800 * KiB
    expect((await readAll(source, offset)).bytes.equals(content.subarray(offset))).toBe(true)
    // no second CAR attempt; only the root and the leaves from the offset on
    expect(g.requests.slice(before).every((r) => r.format === 'raw')).toBe(true)
    expect(g.requests.length - before).toBe(3)
  })

  it('falls back to raw blocks on 400 and 415 too', async () => {
    for (const status of [400, 415] as const) {
      const g = await gateway({ fault: { noCar: status } })
      const content = randomBytes(300 * KiB)
      const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
      expect((await readAll(new GatewaySource(g.url, cid.toString()))).bytes.equals(content)).toBe(true)
    }
  })

  it('a corrupt raw block is an integrity error', async () => {
    const g = await gateway({ fault: { noCar: true, corruptBlocks: 'all' } })
    const cid = await g.store.addFile(randomBytes(300 * KiB), { profile: 'raw-leaves' })
    await expect(readAll(new GatewaySource(g.url, cid.toString()))).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('a CAR that ends cleanly but early is incomplete, not a lie: the rest comes as raw blocks from the same gateway', async () => {
    const g = await gateway()
    const content = randomBytes(1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    // root + 4 leaves of 256 KiB; the CAR stops inside the third leaf
    g.setFaults([{ truncateCar: 600 * KiB }])
    const { bytes } = await readAll(new GatewaySource(g.url, cid.toString()))
    expect(bytes.equals(content)).toBe(true)
    expect(g.requests.map((r) => r.format)).toEqual(['car', 'raw', 'raw'])
    // the third leaf was cut off inside the CAR: it and the fourth come raw
    const car = g.requests[0]!.blocks
    expect(car).toHaveLength(4)
    // (fetched in parallel, so in either order)
    const rawBlocks = g.requests.slice(1).flatMap((r) => r.blocks)
    expect(rawBlocks).toContain(car[3])
    expect(new Set([...car, ...rawBlocks]).size).toBe(5)
  })

  it('a CAR that leaves blocks out: each one missing is fetched raw, the rest still streams', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(2048 * KiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    // sent blocks: root, leaf0 … leaf7; leave out leaf1 and leaf5
    const g = await gateway({ store, faults: [{ omitBlocks: [2, 6] }] })
    const { bytes } = await readAll(new GatewaySource(g.url, cid.toString()))
    expect(bytes.equals(content)).toBe(true)
    expect(g.requests.map((r) => r.format)).toEqual(['car', 'raw', 'raw'])
    expect(g.requests[0]!.blocks).toHaveLength(7)
  })

  it('a connection dropped mid-CAR is a transient source error', async () => {
    const g = await gateway({ faults: [{ dropAfter: 400 * KiB }] })
    const content = randomBytes(1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const response = await new GatewaySource(g.url, cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })
    await expect(collect(response)).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: true })
  })

  it('maps 429 with Retry-After to a transient error, and 404/410 to permanent ones', async () => {
    const g = await gateway({ faults: [{ status: 429, retryAfter: '7' }, { status: 503 }, { status: 410 }] })
    const cid = await g.store.addFile(randomBytes(100))
    const source = new GatewaySource(g.url, cid.toString())
    const read = (): Promise<ReadResponse> => source.read({ offset: 0, signal: AbortSignal.timeout(10_000) })
    await expect(read()).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: true, status: 429, retryAfterMs: 7000 })
    await expect(read()).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: true, status: 503 })
    await expect(read()).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: false, status: 410 })
    const other = await g.store.addFile(randomBytes(100), { profile: 'raw-leaves' })
    const g2 = await gateway()
    await expect(new GatewaySource(g2.url, other.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: false, status: 404 })
  })

  it('a refused connection is transient', async () => {
    const g = await gateway()
    const url = g.url
    await g.close()
    const cid = (await new UnixfsStore().addFile(randomBytes(10))).toString()
    await expect(new GatewaySource(url, cid).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: true })
  })

  it('refuses a directory without a path, naming what to do', async () => {
    const g = await gateway()
    const dir = await g.store.addDirectory([{ path: 'x.txt', content: randomBytes(10) }])
    await expect(new GatewaySource(g.url, dir.cid.toString()).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
  })
})

describe('GatewaySource and identity CIDs', () => {
  it('reads an identity CID with no request', async () => {
    const { CID } = await import('multiformats/cid')
    const raw = await import('multiformats/codecs/raw')
    const { identity } = await import('multiformats/hashes/identity')
    const g = await gateway()
    const bytes = new TextEncoder().encode('tiny')
    const cid = CID.createV1(raw.code, identity.digest(bytes))
    const { bytes: got, response } = await readAll(new GatewaySource(g.url, cid.toString()))
    expect(got.toString()).toBe('tiny')
    expect(response.info.size).toBe(4)
    expect(g.requests).toHaveLength(0)
  })
})

describe('GatewaySource with the other gateways of the download', () => {
  it('a block this gateway does not have comes raw from another gateway; the read stays this gateway\'s', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(1024 * KiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    const leaf = (await collectCids(store, cid))[2]!
    const lacking = await gateway({ store, fault: { lacks: [leaf] } })
    const other = await gateway({ store })
    const group = new GatewayGroup([lacking.url, other.url])
    const { bytes } = await readAll(new GatewaySource(lacking.url, cid.toString(), { group }))
    expect(bytes.equals(content)).toBe(true)
    expect(lacking.requests.map((r) => `${r.format} ${r.status}`)).toEqual(['car 200', 'raw 404'])
    expect(other.requests.map((r) => r.blocks)).toEqual([[leaf]])
  })

  it('a block no gateway has: a permanent HAUL_SOURCE error that says which gateways do not have it', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(1024 * KiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    const leaf = (await collectCids(store, cid))[3]!
    const a = await gateway({ store, fault: { lacks: [leaf] } })
    const b = await gateway({ store, fault: { lacks: [leaf] } })
    const group = new GatewayGroup([a.url, b.url])
    const response = await new GatewaySource(a.url, cid.toString(), { group }).read({ offset: 0, signal: AbortSignal.timeout(10_000) })
    const { bytes, error } = await readUntilError(response)
    expect(bytes.equals(content.subarray(0, 512 * KiB))).toBe(true)
    expect(error).toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    expect((error as Error).message).toContain(`No gateway has block ${leaf}`)
    expect((error as Error).message).toContain(`${a.url} does not have it (HTTP 404)`)
    expect((error as Error).message).toContain(`${b.url} does not have it (HTTP 404)`)
    expect((error as Error).message).not.toMatch(/verification|did not match/)
  })

  it('another gateway that sends a bad block in its place is marked a liar; this read goes on', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(1024 * KiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves' })
    const leaf = (await collectCids(store, cid))[1]!
    const lacking = await gateway({ store, fault: { lacks: [leaf] } })
    const liar = await gateway({ store, fault: { corruptBlocks: 'all' } })
    const honest = await gateway({ store })
    const group = new GatewayGroup([lacking.url, liar.url, honest.url])
    const { bytes } = await readAll(new GatewaySource(lacking.url, cid.toString(), { group }))
    expect(bytes.equals(content)).toBe(true)
    expect(group.isLiar(liar.url)).toBe(true)
    expect(group.isLiar(lacking.url)).toBe(false)
    expect(honest.requests.map((r) => r.blocks)).toEqual([[leaf]])
    // a liar's own reads fail at once for the rest of the download
    await expect(new GatewaySource(liar.url, cid.toString(), { group }).read({ offset: 0, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(liar.requests).toHaveLength(1)
  })
})

/** The file's blocks in DFS order, root first (CID strings as the gateway logs them). */
async function collectCids(store: UnixfsStore, root: CID): Promise<string[]> {
  const g = await gateway({ store })
  await readAll(new GatewaySource(g.url, root.toString()))
  return g.requests[0]!.blocks
}
