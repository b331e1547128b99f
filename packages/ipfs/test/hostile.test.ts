// Gateways that lie, through the whole download (dag-structure.test.ts, car-reader.test.ts and
// gateway-source.test.ts cover the lies one read at a time): a CAR naming another root, CARs cut
// after their header, blocks over the 2 MiB limit that do hash to their CID.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startGateway, UnixfsStore, type GatewayOptions, type TestGateway } from '@haul/testkit'
import { download } from '../src/index.js'

const KiB = 1024
const MiB = 1024 * KiB
const open: TestGateway[] = []
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-ipfs-hostile-'))
})
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()))
  await rm(dir, { recursive: true, force: true })
})

async function gateway(options: GatewayOptions): Promise<TestGateway> {
  const g = await startGateway({ lifetimeMs: 30_000, ...options })
  open.push(g)
  return g
}

const quick = { backoff: { baseMs: 1, capMs: 5 }, stallTimeoutMs: 10_000, retries: 2 }
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** The destination holds exactly `content`, or nothing is there (a hidden partial may stay). */
async function verifiedOrNothing(output: string, content: Buffer): Promise<'verified' | 'nothing'> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.'))
  if (names.length === 0) return 'nothing'
  expect((await readFile(output)).equals(content)).toBe(true)
  return 'verified'
}

describe('gateways that lie', () => {
  it('a CAR naming another root: the blocks asked for are verified by their own CIDs, the file lands whole', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(600 * KiB)
    const cid = await store.addFile(content)
    const g = await gateway({ store, fault: { wrongRoot: true } })
    const output = join(dir, 'f')
    await download(`ipfs://${cid}`, { output, gateways: [g.url], ...quick }).catch((err: { code?: string }) => expect(err.code).toBe('HAUL_INTEGRITY'))
    expect(['verified', 'nothing']).toContain(await verifiedOrNothing(output, content))
  })

  it('CARs cut right after their header, every time: incomplete, not a lie; the blocks come raw and the file lands whole', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(600 * KiB)
    const cid = await store.addFile(content)
    const g = await gateway({ store, fault: { truncateCar: 60 } })
    const output = join(dir, 'f')
    const result = await download(`ipfs://${cid}`, { output, gateways: [g.url], ...quick })
    expect(result.sha256).toBe(sha256(content))
    expect(await verifiedOrNothing(output, content)).toBe('verified')
    // one CAR, then the root and its 3 leaves block by block
    expect(g.requests.map((r) => r.format)).toEqual(['car', 'raw', 'raw', 'raw', 'raw'])
  })

  it('an empty 200 CAR once, then an honest one: the file lands whole', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(600 * KiB)
    const cid = await store.addFile(content)
    const bad = await gateway({ store, fault: { truncateCar: 0 } })
    const good = await gateway({ store })
    const output = join(dir, 'f')
    const result = await download(`ipfs://${cid}`, { output, gateways: [bad.url, good.url], ...quick })
    expect(result.sha256).toBe(sha256(content))
    expect(await verifiedOrNothing(output, content)).toBe('verified')
  })

  for (const noCar of [false, true]) {
    it(`a leaf block of 3 MiB that hashes to its CID is refused (${noCar ? 'raw blocks' : 'CAR'}), nothing committed`, async () => {
      const store = new UnixfsStore()
      const content = randomBytes(7 * MiB)
      const cid = await store.addFile(content, { profile: 'raw-leaves', chunkSize: 3 * MiB })
      const g = await gateway({ store, ...(noCar ? { fault: { noCar: true } } : {}) })
      const output = join(dir, 'f')
      await expect(download(`ipfs://${cid}`, { output, gateways: [g.url], ...quick })).rejects.toMatchObject({ code: expect.stringMatching(/HAUL_INTEGRITY|HAUL_SOURCE/) })
      expect(await verifiedOrNothing(output, content)).toBe('nothing')
    })
  }

  it('leaf blocks of 1 MiB (under the limit) are fine', async () => {
    const store = new UnixfsStore()
    const content = randomBytes(3 * MiB)
    const cid = await store.addFile(content, { profile: 'raw-leaves', chunkSize: MiB })
    const g = await gateway({ store })
    const output = join(dir, 'f')
    await download(`ipfs://${cid}`, { output, gateways: [g.url], ...quick })
    expect(await verifiedOrNothing(output, content)).toBe('verified')
  })
})
