import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { CarBlockIterator } from '@ipld/car/iterator'
import * as dagPb from '@ipld/dag-pb'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'
import { startGateway, type TestGateway } from '../src/gateway.js'

const KiB = 1024
const CAR = 'application/vnd.ipld.car'
const open: TestGateway[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()))
})

async function gateway(options: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> {
  const g = await startGateway({ lifetimeMs: 20_000, ...options })
  open.push(g)
  return g
}

async function car(url: string): Promise<{ roots: string[]; blocks: Array<{ cid: string; ok: boolean; size: number }> }> {
  const res = await fetch(url, { headers: { accept: CAR } })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.ipld\.car; version=1; order=dfs; dups=y/)
  const it = await CarBlockIterator.fromBytes(new Uint8Array(await res.arrayBuffer()))
  const blocks = []
  for await (const { cid, bytes } of it) blocks.push({ cid: cid.toString(), ok: equals((await sha256.digest(bytes)).digest, cid.multihash.digest), size: bytes.length })
  return { roots: (await it.getRoots()).map(String), blocks }
}

describe('startGateway', () => {
  it('serves a whole file as a CAR of verifiable blocks in DFS order, and logs the request', async () => {
    const g = await gateway()
    const cid = await g.store.addFile(randomBytes(600 * KiB))
    const { roots, blocks } = await car(`${g.url}/ipfs/${cid}?dag-scope=entity`)
    expect(roots).toEqual([cid.toString()])
    expect(blocks[0]?.cid).toBe(cid.toString())
    expect(blocks.map((b) => b.size).slice(1)).toHaveLength(3)
    expect(blocks.every((b) => b.ok)).toBe(true)
    expect(g.requests[0]).toMatchObject({ format: 'car', status: 200, blocks: blocks.map((b) => b.cid) })
    expect(g.requests[0]?.bytesSent).toBeGreaterThan(600 * KiB)
  })

  it('honours entity-bytes with only the blocks covering the range, and dag-scope=block', async () => {
    const g = await gateway()
    const cid = await g.store.addFile(randomBytes(1024 * KiB), { profile: 'raw-leaves' })
    expect((await car(`${g.url}/ipfs/${cid}?format=car&entity-bytes=300000:600000`)).blocks).toHaveLength(3)
    expect((await car(`${g.url}/ipfs/${cid}?format=car&entity-bytes=-10:*`)).blocks).toHaveLength(2)
    expect((await car(`${g.url}/ipfs/${cid}?format=car&dag-scope=block`)).blocks).toHaveLength(1)
    expect((await car(`${g.url}/ipfs/${cid}?format=car&dag-scope=all`)).blocks).toHaveLength(5)
  })

  it('proves a path with the directory blocks from the root first, rooted at the terminal CID', async () => {
    const g = await gateway()
    const dir = await g.store.addDirectory([{ path: 'a/b.txt', content: randomBytes(100) }])
    const { roots, blocks } = await car(`${g.url}/ipfs/${dir.cid}/a/b.txt?format=car&dag-scope=entity`)
    const leaf = dir.entries.get('a/b.txt')?.toString()
    expect(roots).toEqual([leaf])
    expect(blocks.map((b) => b.cid)).toEqual([dir.cid.toString(), dir.entries.get('a')?.toString(), leaf])
  })

  it('serves HAMT-sharded directories: the path proof walks the shards', async () => {
    const g = await gateway()
    const files = Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, content: new TextEncoder().encode(String(i)) }))
    const dir = await g.store.addDirectory(files, { shardSplitThresholdBytes: 1 })
    const { blocks } = await car(`${g.url}/ipfs/${dir.cid}/f42?format=car&dag-scope=entity`)
    expect(blocks.length).toBeGreaterThanOrEqual(3)
    expect(blocks.at(-1)?.cid).toBe(dir.entries.get('f42')?.toString())
  })

  it('serves one raw block, and the plain file for unverified comparison', async () => {
    const g = await gateway()
    const content = randomBytes(700 * KiB)
    const cid = await g.store.addFile(content)
    const rawRes = await fetch(`${g.url}/ipfs/${cid}?format=raw`)
    expect(rawRes.headers.get('content-type')).toBe('application/vnd.ipld.raw')
    expect(dagPb.decode(new Uint8Array(await rawRes.arrayBuffer())).Links).toHaveLength(3)
    const plain = Buffer.from(await (await fetch(`${g.url}/ipfs/${cid}`)).arrayBuffer())
    expect(plain.equals(content)).toBe(true)
    expect(g.requests.map((r) => r.format)).toEqual(['raw', 'plain'])
  })

  it('scripts faults by request count: status with Retry-After, HTML, noCar, corrupt blocks', async () => {
    const g = await gateway({ faults: [{ status: 429, retryAfter: '3' }, { html200: true }, { noCar: true }, { corruptBlocks: [0] }] })
    const cid = await g.store.addFile(randomBytes(1000), { profile: 'raw-leaves' })
    const url = `${g.url}/ipfs/${cid}?format=car`
    const r1 = await fetch(url)
    expect([r1.status, r1.headers.get('retry-after')]).toEqual([429, '3'])
    const r2 = await fetch(url)
    expect([r2.status, r2.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8'])
    await r2.arrayBuffer()
    expect((await fetch(url)).status).toBe(406)
    expect((await car(url)).blocks[0]?.ok).toBe(false)
    expect((await car(url)).blocks[0]?.ok).toBe(true)
  })

  it('drops the connection after N bytes, or ends a CAR cleanly but short', async () => {
    const g = await gateway({ faults: [{ dropAfter: 1000 }, { truncateCar: 1000 }] })
    const cid = await g.store.addFile(randomBytes(300 * KiB), { profile: 'raw-leaves' })
    const url = `${g.url}/ipfs/${cid}?format=car`
    await expect(fetch(url).then((r) => r.arrayBuffer())).rejects.toThrow()
    expect(g.requests[0]?.bytesSent).toBe(1000)
    expect((await (await fetch(url)).arrayBuffer()).byteLength).toBe(1000)
  })

  it('limits the rate of a response', async () => {
    const g = await gateway({ fault: { rateBytesPerSecond: 200 * KiB } })
    const cid = await g.store.addFile(randomBytes(100 * KiB), { profile: 'raw-leaves' })
    const started = Date.now()
    await (await fetch(`${g.url}/ipfs/${cid}`)).arrayBuffer()
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
  })

  it('answers 404 for content it lacks, 400 for a bad CID', async () => {
    const g = await gateway()
    const other = await (await gateway()).store.addFile(randomBytes(10))
    expect((await fetch(`${g.url}/ipfs/${other}?format=raw`)).status).toBe(404)
    expect((await fetch(`${g.url}/ipfs/nope?format=raw`)).status).toBe(400)
  })

  it('closes itself after its lifetime', async () => {
    const g = await startGateway({ lifetimeMs: 50 })
    const cid = await g.store.addFile(randomBytes(10))
    let refused = false
    // Bounded: the server must stop answering within these attempts (about a second).
    for (let i = 0; i < 2000 && !refused; i++) {
      refused = await fetch(`${g.url}/ipfs/${cid}`).then((r) => r.arrayBuffer()).then(() => false, () => true)
    }
    expect(refused).toBe(true)
    await g.close()
  })
})
