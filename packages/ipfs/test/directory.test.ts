import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UnixfsStore, trackGateways } from '@haul/testkit'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { download, type HaulEvent } from '../src/index.js'

const KiB = 1024
const gateways = trackGateways({ lifetimeMs: 30_000 })
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-ipfs-dir-'))
})
afterEach(async () => {
  await gateways.closeAll()
  await rm(dir, { recursive: true, force: true })
})

const gateway = gateways.start

const quick = { backoff: { baseMs: 1, capMs: 5 }, retries: 2 }
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex')

const tree = (): Array<{ path: string; content: Buffer }> => [
  { path: 'README.md', content: Buffer.from('# hello\n') },
  { path: 'data/big.bin', content: randomBytes(700 * KiB) },
  { path: 'data/nested/small.txt', content: Buffer.from('small') },
  { path: 'empty.txt', content: Buffer.alloc(0) },
]

async function expectTree(root: string, files: Array<{ path: string; content: Buffer }>): Promise<void> {
  for (const f of files) expect((await readFile(join(root, f.path))).equals(f.content), f.path).toBe(true)
}

describe('download of a directory', () => {
  it('downloads the whole tree into a folder committed at once, with a manifest digest', async () => {
    const store = new UnixfsStore()
    const files = tree()
    const added = await store.addDirectory(files)
    const g = await gateway({ store })
    const output = join(dir, 'site')
    const events: HaulEvent[] = []
    const result = await download(`ipfs://${added.cid}`, { output, gateways: [g.url], onEvent: (e) => events.push(e), ...quick })
    await expectTree(output, files)
    expect(await readdir(dir)).toEqual(['site'])
    expect((await readdir(output)).sort()).toEqual(['README.md', 'data', 'empty.txt'])
    const manifest = files.map((f) => ({ p: f.path, h: sha256(f.content) })).sort((a, b) => (a.p < b.p ? -1 : 1)).map((f) => `${f.h}  ${f.p}\n`).join('')
    expect(result).toMatchObject({ path: output, bytes: files.reduce((n, f) => n + f.content.length, 0), sha256: sha256(manifest), cached: false })
    expect(events.filter((e) => e.event === 'start')).toHaveLength(1)
    expect(events.filter((e) => e.event === 'error')).toHaveLength(0)
    expect(events.at(-1)).toMatchObject({ event: 'done', path: output })
  })

  it('downloads a sub-directory named by path, and a HAMT-sharded one', async () => {
    const store = new UnixfsStore()
    const files = Array.from({ length: 120 }, (_, i) => ({ path: `shard/f${i}.txt`, content: Buffer.from(`content ${i}`) }))
    const added = await store.addDirectory(files, { shardSplitThresholdBytes: 1000 })
    const g = await gateway({ store })
    const output = join(dir, 'shard')
    await download(`/ipfs/${added.cid}/shard`, { output, gateways: [g.url], ...quick })
    expect(await readdir(output)).toHaveLength(120)
    expect(await readFile(join(output, 'f77.txt'), 'utf8')).toBe('content 77')
  })

  it('drops a gateway that corrupts a block and finishes the tree from the honest one', async () => {
    const store = new UnixfsStore()
    const files = tree()
    const added = await store.addDirectory(files)
    const liar = await gateway({ store, fault: { corruptBlocks: [1] } })
    const honest = await gateway({ store })
    const output = join(dir, 'site')
    await download(added.cid.toString(), { output, gateways: [liar.url, honest.url], ...quick })
    await expectTree(output, files)
  })

  it('refuses to replace an existing folder', async () => {
    const store = new UnixfsStore()
    const added = await store.addDirectory(tree())
    const g = await gateway({ store })
    const output = join(dir, 'site')
    await mkdir(output)
    await expect(download(added.cid.toString(), { output, gateways: [g.url], ...quick })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
  })

  it('keeps the files of an interrupted run and does not fetch them again', async () => {
    const store = new UnixfsStore()
    const files = tree()
    const added = await store.addDirectory(files)
    // The tree's CAR (after the file attempt's) stops inside data/big.bin, and the gateway then has
    // nothing more: README.md gets through.
    const g = await gateway({ store, faults: [undefined, { truncateCar: 300 * KiB }], fault: { status: 404 } })
    const output = join(dir, 'site')
    await expect(download(added.cid.toString(), { output, gateways: [g.url], ...quick })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    expect(await readdir(dir)).not.toContain('site')
    g.setFaults([])
    const before = g.requests.length
    const result = await download(added.cid.toString(), { output, gateways: [g.url], ...quick })
    await expectTree(output, files)
    expect(result.resumedFrom).toBeGreaterThan(0)
    expect(g.requests.length - before).toBeLessThan(before + 4)
    expect(await readdir(dir)).toEqual(['site'])
  })

  it('refuses an entry name that would escape the folder', async () => {
    const g = await gateway()
    const file = await g.store.putBlock(Buffer.from('x'))
    const bytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Name: '..', Hash: file }] }))
    const root = await g.store.putBlock(bytes, 'dag-pb')
    await expect(download(root.toString(), { output: join(dir, 'evil'), gateways: [g.url], ...quick })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(await readdir(dir)).toEqual([])
  })

  it('refuses a file digest for a directory', async () => {
    const store = new UnixfsStore()
    const added = await store.addDirectory(tree())
    const g = await gateway({ store })
    await expect(download(added.cid.toString(), { output: join(dir, 'x'), sha256: 'a'.repeat(64), gateways: [g.url] })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
  })
})

describe('download of a directory, as one stream', () => {
  const countBlocks = (g: { requests: Array<{ blocks: string[] }> }): Map<string, number> => {
    const seen = new Map<string, number>()
    for (const r of g.requests) for (const b of r.blocks) seen.set(b, (seen.get(b) ?? 0) + 1)
    return seen
  }

  it('a 300-file HAMT folder with a 3 MiB file in it: the tree comes in one CAR (dag-scope=all, dups=n) after the first probe', async () => {
    const store = new UnixfsStore()
    const files = [...Array.from({ length: 300 }, (_, i) => ({ path: `f${i}.txt`, content: Buffer.from(`content ${i}\n`) })), { path: 'big.bin', content: randomBytes(3 * 1024 * KiB) }]
    const added = await store.addDirectory(files, { shardSplitThresholdBytes: 1, profile: 'raw-leaves' })
    const g = await gateway({ store })
    const output = join(dir, 'tree')
    await download(added.cid.toString(), { output, gateways: [g.url], ...quick })
    await expectTree(output, files)
    expect(g.requests).toHaveLength(2)
    expect(g.requests[1]?.url).toMatch(/dag-scope=all/)
    expect(g.requests[1]?.dups).toBe(false)
  })

  it('files of one CID under several names: fetched once, copied; and a file repeated inside another file', async () => {
    const store = new UnixfsStore()
    const same = randomBytes(40 * KiB)
    const files = [
      { path: 'a.bin', content: same },
      { path: 'b.bin', content: same },
      { path: 'sub/c.bin', content: same },
      { path: 'other.bin', content: Buffer.concat([same, randomBytes(10)]) },
    ]
    const added = await store.addDirectory(files, { profile: 'raw-leaves', chunkSize: 16 * KiB })
    const g = await gateway({ store })
    const output = join(dir, 'tree')
    await download(added.cid.toString(), { output, gateways: [g.url], ...quick })
    await expectTree(output, files)
    const fileCid = added.entries.get('a.bin')!.toString()
    expect(countBlocks({ requests: g.requests.slice(1) }).get(fileCid)).toBe(1)
    expect((await readdir(output)).sort()).toEqual(['a.bin', 'b.bin', 'other.bin', 'sub'])
    expect(await readdir(join(output, 'sub'))).toEqual(['c.bin'])
  })

  it('a tree CAR cut in the middle: the rest comes block by block, from the next gateway when this one is gone', async () => {
    const store = new UnixfsStore()
    const files = Array.from({ length: 40 }, (_, i) => ({ path: `d${i % 4}/f${i}.bin`, content: randomBytes(20 * KiB + i) }))
    const added = await store.addDirectory(files, { profile: 'raw-leaves' })
    const first = await gateway({ store, faults: [undefined, { dropAfter: 300 * KiB }], fault: { status: 503, retryAfter: '60' } })
    const second = await gateway({ store })
    const output = join(dir, 'tree')
    await download(added.cid.toString(), { output, gateways: [first.url, second.url], ...quick })
    await expectTree(output, files)
    expect(first.requests.slice(0, 2).map((r) => r.format)).toEqual(['car', 'car'])
    expect(second.requests.length).toBeGreaterThan(0)
    expect(second.requests.every((r) => r.format === 'raw')).toBe(true)
  })

  it('a tree CAR with a corrupt block: that gateway is dropped, the tree lands from the other, nothing unverified', async () => {
    const store = new UnixfsStore()
    const files = Array.from({ length: 20 }, (_, i) => ({ path: `f${i}.bin`, content: randomBytes(10 * KiB + i) }))
    const added = await store.addDirectory(files, { profile: 'raw-leaves' })
    const liar = await gateway({ store, faults: [undefined, { corruptBlocks: [7] }] })
    const honest = await gateway({ store })
    const output = join(dir, 'tree')
    await download(added.cid.toString(), { output, gateways: [liar.url, honest.url], ...quick })
    await expectTree(output, files)
    expect(liar.requests).toHaveLength(2)
  })
})
