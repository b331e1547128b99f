// haul against a trustless gateway this project did not write: an offline helia node answering
// through @helia/verified-fetch (packages/helia-peer, on Node 22), with content from the reference
// importer and the gateway-conformance fixture CARs (test/fixtures/conformance).
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { node22, startHeliaGateway, type HeliaGateway } from '@haul/helia-peer'
import { killChildren, storeCar, testBytes, trackGateways, UnixfsStore, type SpawnedChild } from '@haul/testkit'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { GatewaySource } from '../src/gateway-source.js'
import { haul, waitForJournaledBytes } from './haul-cli.js'

const KiB = 1024
const MiB = 1024 * KiB
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const fixture = (name: string): Promise<Buffer> => readFile(fileURLToPath(new URL(`./fixtures/conformance/${name}`, import.meta.url)))

/** Conformance fixtures' CIDs (see fixtures/conformance/README.md). */
const DIR_WITH_DAG_CBOR = 'bafybeia264q44a3kmfc2otctzu4egp2k235o3t7mslz2yjraymp4nv6asi'
const DAG_CBOR_DOCUMENT = 'bafyreidy4q6mmetut5jzc54ambsfnatbyoujmwbfzyyolqw24majazwgha'
const DAG_CBOR_TRAVERSAL = 'bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim'
const DAG_JSON_TRAVERSAL = 'baguqeeram5ujjqrwheyaty3w5gdsmoz6vittchvhk723jjqxk7hakxkd47xq'
const SINGLE_LAYER_HAMT = 'bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i'
const DIR_WITH_DUPLICATES = 'bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy'
const FILE_MISSING_BLOCK = 'QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk'
const MISSING_BLOCK = 'QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W'
const HELLO_WORLD = 'hello world\n'
/** The multiblock.txt of the fixtures: 1026 bytes of lorem ipsum in 256-byte raw leaves. */
const MULTIBLOCK_SHA256 = '998785f13287a9aabc2d7048e4c2905d502ff13ef40f2d135f163b5a762701c5'

const node = node22()
const missing = 'missing' in node ? node.missing : undefined

describe.skipIf(missing !== undefined)(`haul against a helia gateway (helia + @helia/verified-fetch, Node 22)${missing === undefined ? '' : ` — skipped: ${missing}`}`, () => {
  /** Holds everything; answers CAR. */
  let good: HeliaGateway
  /** Holds everything; refuses CAR (raw blocks only). */
  let rawOnly: HeliaGateway
  /** Holds nothing. */
  let empty: HeliaGateway
  /** Holds the files, one leaf of each replaced by other bytes. */
  let corrupt: HeliaGateway
  const store = new UnixfsStore()
  const content = {
    leaves1m: testBytes(6 * MiB + 5),
    leaves512k: testBytes(6 * MiB + 7),
    v0: testBytes(1100 * KiB),
    /** Four links a node: a DAG of several levels, so that a resume starts past whole subtrees. */
    deep: testBytes(8 * MiB + 3),
  }
  /** Big enough that a kill lands mid-file even on a fast machine; only the good node holds it. */
  const big = testBytes(128 * MiB + 11)
  const bigStore = new UnixfsStore()
  let bigCid: CID
  const cids: Record<keyof typeof content, CID> = {} as Record<keyof typeof content, CID>
  const hamtFiles = Array.from({ length: 1000 }, (_, i) => ({ path: `f${String(i).padStart(4, '0')}.txt`, content: Buffer.from(`file number ${i}\n`) }))
  let hamt: CID
  let inlineDir: CID
  const inlineBytes = Buffer.from('inline in its CID')

  beforeAll(async () => {
    ;[good, rawOnly, empty, corrupt] = await Promise.all([startHeliaGateway(), startHeliaGateway({ refuseCar: true }), startHeliaGateway(), startHeliaGateway()])
    cids.leaves1m = await store.addFile(content.leaves1m, { profile: 'raw-leaves', chunkSize: MiB })
    cids.leaves512k = await store.addFile(content.leaves512k, { profile: 'kubo', chunkSize: 512 * KiB })
    cids.v0 = await store.addFile(content.v0, { profile: 'kubo' })
    cids.deep = await store.addFile(content.deep, { profile: 'raw-leaves', maxChildrenPerNode: 4 })
    bigCid = await bigStore.addFile(big, { profile: 'raw-leaves', chunkSize: MiB })
    await good.loadCar(await storeCar(bigStore, bigCid))
    hamt = (await store.addDirectory(hamtFiles, { profile: 'raw-leaves', shardSplitThresholdBytes: 1 })).cid
    // A directory whose one file is an identity CID: the path is fetched, the file is not.
    const inline = CID.createV1(raw.code, identity.digest(inlineBytes))
    inlineDir = await store.putBlock(dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Name: 'inline.txt', Hash: inline, Tsize: inlineBytes.length }] })), 'dag-pb')
    const car = await storeCar(store, hamt)
    const fixtures = await Promise.all(['dir-with-dag-cbor-with-links.car', 'dag-cbor-traversal.car', 'dag-json-traversal.car', 'single-layer-hamt-with-multi-block-files.car', 'dir-with-duplicate-files.car', 'file-3k-and-3-blocks-missing-block.car'].map(fixture))
    for (const g of [good, rawOnly, corrupt]) {
      await g.loadCar(car)
      for (const f of fixtures) await g.loadCar(f)
    }
    // The corrupt node: the second leaf of each big-leaved file holds other bytes.
    for (const cid of [cids.leaves1m, cids.leaves512k]) {
      const root = dagPb.decode(store.getBlock(cid)!)
      await corrupt.putBlock(root.Links[1]!.Hash.toString(), testBytes(1000))
    }
  }, 120_000)

  afterAll(async () => {
    await Promise.all([good, rawOnly, empty, corrupt].filter((g) => g !== undefined).map((g) => g.close()))
  })

  let dir: string
  const testkit = trackGateways({ lifetimeMs: 60_000 })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haul-helia-'))
  })
  afterEach(async () => {
    await killChildren()
    await testkit.closeAll()
    await rm(dir, { recursive: true, force: true })
  })

  /** `haul get SOURCE -o OUT` through `gateways`, with --json; resolves to the child once it exited. */
  async function get(source: string, out: string, gateways: HeliaGateway[] | string[], extra: string[] = []): Promise<SpawnedChild> {
    const urls = gateways.map((g) => (typeof g === 'string' ? g : g.url))
    const child = haul(['get', source, '-o', out, '--json', '--retries', '1', ...urls.flatMap((u) => ['--gateway', u]), ...extra], dir)
    await child.waitForExit()
    return child
  }

  const requestsSince = async (g: HeliaGateway, before: number): Promise<Array<{ url: string; status: number }>> => (await g.requests()).slice(before)

  for (const [name, key] of [['1 MiB raw leaves (CIDv1)', 'leaves1m'], ['512 KiB dag-pb leaves (CIDv0)', 'leaves512k']] as const) {
    for (const mode of ['CAR', 'raw blocks'] as const) {
      it(`a file with ${name}, ${mode}: lands whole`, async () => {
        const child = await get(`ipfs://${cids[key]}`, 'f.bin', [mode === 'CAR' ? good : rawOnly])
        expect(child.exitStatus).toMatchObject({ code: 0 })
        expect(child.events.at(-1)).toMatchObject({ event: 'done', bytes: content[key].length, sha256: sha256(content[key]) })
      })
    }
  }

  it('a CIDv0 file with dag-pb leaves (kubo defaults): one CAR request', async () => {
    const before = (await good.requests()).length
    const child = await get(cids.v0.toString(), 'v0.bin', [good])
    expect(child.exitStatus).toMatchObject({ code: 0 })
    expect(cids.v0.toString()).toMatch(/^Qm/)
    expect(sha256(await readFile(join(dir, 'v0.bin')))).toBe(sha256(content.v0))
    expect(await requestsSince(good, before)).toHaveLength(1)
  })

  it('a read that starts past the first subtrees (entity-bytes): the right bytes, whatever the CAR leaves out', async () => {
    for (const offset of [5 * MiB + 3, 2 * MiB, content.deep.length - 10]) {
      const before = (await good.requests()).length
      const response = await new GatewaySource(good.url, cids.deep.toString()).read({ offset, signal: AbortSignal.timeout(30_000) })
      const parts: Uint8Array[] = []
      for await (const part of response.body) parts.push(part)
      expect(Buffer.concat(parts).equals(content.deep.subarray(offset)), String(offset)).toBe(true)
      const requests = await requestsSince(good, before)
      expect(requests[0]?.url).toContain(`entity-bytes=${offset}:*`)
      // Whatever came raw was a block the CAR lacked, each asked once.
      const raws = requests.slice(1).map((r) => r.url)
      expect(new Set(raws).size).toBe(raws.length)
    }
  })

  it('a 1000-file HAMT folder: every file lands, in a handful of requests (not one per file)', async () => {
    const before = (await good.requests()).length
    const child = await get(`ipfs://${hamt}`, 'folder', [good])
    expect(child.exitStatus).toMatchObject({ code: 0 })
    const names = await readdir(join(dir, 'folder'))
    expect(names).toHaveLength(1000)
    for (const i of [0, 1, 517, 999]) expect(await readFile(join(dir, 'folder', hamtFiles[i]!.path), 'utf8')).toBe(`file number ${i}\n`)
    const requests = await requestsSince(good, before)
    expect(requests.length).toBeLessThanOrEqual(4)
    expect(requests.some((r) => r.url.includes('dag-scope=all'))).toBe(true)
  })

  it('the conformance single-layer HAMT folder (1000 files of one CID) and a path inside it; raw blocks too', async () => {
    for (const g of [good, rawOnly]) {
      const before = (await g.requests()).length
      const child = await get(`ipfs://${SINGLE_LAYER_HAMT}`, `hamt-${g === good ? 'car' : 'raw'}`, [g])
      expect(child.exitStatus).toMatchObject({ code: 0 })
      const names = await readdir(join(dir, `hamt-${g === good ? 'car' : 'raw'}`))
      expect(names).toHaveLength(1000)
      expect(sha256(await readFile(join(dir, `hamt-${g === good ? 'car' : 'raw'}`, '685.txt')))).toBe(MULTIBLOCK_SHA256)
      // One CID, fetched once: never a block per file.
      expect((await requestsSince(g, before)).length).toBeLessThan(g === good ? 5 : 300)
    }
    const one = await get(`ipfs://${SINGLE_LAYER_HAMT}/685.txt`, '685.txt', [good])
    expect(one.exitStatus).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, '685.txt')))).toBe(MULTIBLOCK_SHA256)
  })

  it('a folder with duplicate files: each CID fetched once, the copies identical', async () => {
    const before = (await good.requests()).length
    const child = await get(DIR_WITH_DUPLICATES, 'dups', [good])
    expect(child.exitStatus).toMatchObject({ code: 0 })
    expect((await readdir(join(dir, 'dups'))).sort()).toEqual(['ascii-copy.txt', 'ascii.txt', 'hello.txt', 'multiblock.txt'])
    expect(await readFile(join(dir, 'dups', 'ascii-copy.txt'), 'utf8')).toBe('hello application/vnd.ipld.car\n')
    expect(await readFile(join(dir, 'dups', 'ascii.txt'), 'utf8')).toBe('hello application/vnd.ipld.car\n')
    expect(await readFile(join(dir, 'dups', 'hello.txt'), 'utf8')).toBe(HELLO_WORLD)
    expect((await requestsSince(good, before)).length).toBeLessThanOrEqual(2)
  })

  it('paths through dag-cbor: /document/files/single of dir-with-dag-cbor-with-links gives "hello world\\n", CAR and raw', async () => {
    for (const g of [good, rawOnly]) {
      const child = await get(`ipfs://${DIR_WITH_DAG_CBOR}/document/files/single`, 'single', [g])
      expect(child.exitStatus).toMatchObject({ code: 0 })
      expect(await readFile(join(dir, 'single'), 'utf8')).toBe(HELLO_WORLD)
    }
    const multi = await get(`ipfs://${DAG_CBOR_DOCUMENT}/files/multiblock`, 'multi', [good])
    expect(multi.exitStatus).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'multi')))).toBe(MULTIBLOCK_SHA256)
  })

  it('a dag-cbor or dag-json path that ends on data, not on a link to UnixFS: exit 2', async () => {
    for (const source of [`ipfs://${DAG_CBOR_TRAVERSAL}/foo/link/bar/hello`, `ipfs://${DAG_JSON_TRAVERSAL}/foo/link/bar`, `ipfs://${DAG_CBOR_TRAVERSAL}/foo/object/banana`, `ipfs://${DAG_CBOR_TRAVERSAL}/nope`]) {
      const child = await get(source, 'x', [good])
      expect(child.exitStatus, source).toMatchObject({ code: 2 })
      expect(child.events.at(-1), source).toMatchObject({ event: 'error', code: 'HAUL_USAGE' })
    }
    expect(await readdir(dir)).toEqual([])
  })

  it('a dag-cbor root without a path: exit 2 before any request', async () => {
    const before = (await good.requests()).length
    const child = await get(`ipfs://${DAG_CBOR_DOCUMENT}`, 'x', [good])
    expect(child.exitStatus).toMatchObject({ code: 2 })
    expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_USAGE' })
    expect(await requestsSince(good, before)).toHaveLength(0)
  })

  it('identity CIDs: a bare one with no request; one inside a directory with only the directory block fetched', async () => {
    const before = (await good.requests()).length
    const inline = CID.createV1(raw.code, identity.digest(inlineBytes))
    const bare = await get(inline.toString(), 'bare.txt', [good])
    expect(bare.exitStatus).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'bare.txt'), 'utf8')).toBe(inlineBytes.toString())
    expect(await requestsSince(good, before)).toHaveLength(0)
    await good.putBlock(inlineDir.toString(), store.getBlock(inlineDir)!)
    const inDir = await get(`/ipfs/${inlineDir}/inline.txt`, 'in-dir.txt', [good])
    expect(inDir.exitStatus).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'in-dir.txt'), 'utf8')).toBe(inlineBytes.toString())
    // helia's CAR for that path leaves the directory block out (the path ends in an identity CID):
    // haul then fetches that one block raw. The file itself is never asked for.
    const requests = await requestsSince(good, before)
    expect(requests.length).toBeLessThanOrEqual(2)
    expect(requests.filter((r) => r.url.includes('format=raw')).map((r) => r.url)).toEqual(requests.length === 2 ? [`/ipfs/${inlineDir}?format=raw`] : [])
    expect(requests.some((r) => r.url.includes(inline.toString()))).toBe(false)
  })

  it('corrupt blocks: exit 4, the gateway named, nothing committed', async () => {
    for (const key of ['leaves1m', 'leaves512k'] as const) {
      const child = await get(`ipfs://${cids[key]}`, 'f.bin', [corrupt])
      expect(child.exitStatus).toMatchObject({ code: 4 })
      expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_INTEGRITY' })
      expect((await readdir(dir)).filter((n) => !n.startsWith('.'))).toEqual([])
    }
  })

  it('a gateway without the content: exit 3, and the message says it does not have it', async () => {
    const child = await get(`ipfs://${cids.leaves1m}`, 'f.bin', [empty])
    expect(child.exitStatus).toMatchObject({ code: 3 })
    const error = child.events.at(-1) as { code: string; message: string }
    expect(error).toMatchObject({ event: 'error', code: 'HAUL_SOURCE' })
    expect(error.message).toMatch(/does not have/)
    expect(error.message).not.toMatch(/verification|did not match/)
  })

  it('a block no gateway has (file-3k-and-3-blocks-missing-block): exit 3 naming the block, CAR and raw', async () => {
    const child = await get(`ipfs://${FILE_MISSING_BLOCK}`, 'f.bin', [good, rawOnly])
    expect(child.exitStatus).toMatchObject({ code: 3 })
    const error = child.events.at(-1) as { code: string; message: string }
    expect(error.code).toBe('HAUL_SOURCE')
    expect(error.message).toContain(MISSING_BLOCK)
    expect(error.message).toMatch(/does not have/)
    expect(error.message).not.toMatch(/verification|did not match/)
    expect((await readdir(dir)).filter((n) => !n.startsWith('.'))).toEqual([])
  })

  it('one broken gateway and one good one: the file lands from the good one', async () => {
    const html = await testkit.start({ fault: { html200: true } })
    for (const broken of [corrupt.url, empty.url, html.url]) {
      const child = await get(`ipfs://${cids.leaves1m}`, 'f.bin', [broken, good.url])
      expect(child.exitStatus, broken).toMatchObject({ code: 0 })
      expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(content.leaves1m))
      await rm(join(dir, 'f.bin'))
    }
  })

  it('SIGKILL of haul get mid-file, then a second run: resumes from the verified bytes and lands whole', async () => {
    const args = ['get', `ipfs://${bigCid}`, '-o', 'big.bin', '--json', '--gateway', good.url]
    const first = haul(args, dir)
    await first.waitForEvent((e) => e.event === 'progress' && (e.bytes as number) >= MiB, { timeoutMs: 60_000 })
    // Bytes reported may not be journaled yet (a loaded machine): kill once some are, or the run
    // would be right to start over.
    await waitForJournaledBytes(join(dir, 'big.bin'), 1)
    first.signal('SIGKILL')
    expect(await first.waitForExit()).toMatchObject({ signal: 'SIGKILL' })
    expect(first.events.some((e) => e.event === 'done')).toBe(false)
    const second = haul(args, dir)
    expect(await second.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    const start = second.events.find((e) => e.event === 'start') as { resumedFrom: number }
    expect(start.resumedFrom).toBeGreaterThan(0)
    expect(second.events.at(-1)).toMatchObject({ event: 'done', sha256: sha256(big) })
    // The gateway logs a request when it ends: the killed run's (from 0) may end after the
    // resumed one's, so look for the resumed request among them rather than at the last.
    const bigRequests = (await good.requests()).map((r) => r.url).filter((u) => u.includes(bigCid.toString()))
    expect(bigRequests.filter((u) => /entity-bytes=[1-9]\d*:/.test(u)).length).toBeGreaterThan(0)
  })
})
