import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { ReadResponse } from '@haul/core'
import { type TestGateway, trackGateways } from '@haul/testkit'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { GatewaySource } from '../src/gateway-source.js'
import { readUntilError } from './helpers.js'

const KiB = 1024
const gateways = trackGateways({ lifetimeMs: 30_000 })
afterEach(async () => {
  await gateways.closeAll()
})

const gateway = gateways.start

/** A hand-made dag-pb file node: any links and any block sizes, true or not. */
async function fileNode(g: TestGateway, links: CID[], blockSizes: bigint[], data?: Uint8Array): Promise<CID> {
  const fs = new UnixFS({ type: 'file', blockSizes, ...(data === undefined ? {} : { data }) })
  const bytes = dagPb.encode(dagPb.prepare({ Data: fs.marshal(), Links: links.map((Hash) => ({ Hash })) }))
  return g.store.putBlock(bytes, 'dag-pb')
}

const read = (g: TestGateway, cid: CID, offset = 0): Promise<ReadResponse> => new GatewaySource(g.url, cid.toString()).read({ offset, signal: AbortSignal.timeout(10_000) })

describe('untrusted DAG structure', () => {
  it('a child smaller than its parent claims is an integrity error, after the bytes before it', async () => {
    const g = await gateway()
    const a = randomBytes(100)
    const b = randomBytes(100)
    const root = await fileNode(g, [await g.store.putBlock(a), await g.store.putBlock(b)], [100n, 150n])
    const response = await read(g, root)
    expect(response.info.size).toBe(250)
    const { bytes, error } = await readUntilError(response)
    expect(error).toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(bytes.equals(a)).toBe(true)
  })

  it('block sizes that do not match the links are an integrity error', async () => {
    const g = await gateway()
    const leaf = await g.store.putBlock(randomBytes(10))
    const root = await fileNode(g, [leaf, leaf], [10n])
    await expect(read(g, root)).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('an absurd claimed size is an integrity error', async () => {
    const g = await gateway()
    const leaf = await g.store.putBlock(randomBytes(10))
    const root = await fileNode(g, [leaf, leaf], [2n ** 62n, 2n ** 62n])
    await expect(read(g, root)).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('a node repeating one link until it is over the 2 MiB block limit is refused', async () => {
    const g = await gateway()
    const leaf = await g.store.putBlock(randomBytes(1))
    const n = 70_000
    const root = await fileNode(g, Array.from({ length: n }, () => leaf), Array.from({ length: n }, () => 1n))
    await expect(read(g, root)).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('a leaf repeated many times (true sizes) is served from one block, with dups sent by the gateway', async () => {
    const g = await gateway()
    const leafBytes = randomBytes(1000)
    const leaf = await g.store.putBlock(leafBytes)
    const mid = await fileNode(g, Array.from({ length: 100 }, () => leaf), Array.from({ length: 100 }, () => 1000n))
    const root = await fileNode(g, Array.from({ length: 50 }, () => mid), Array.from({ length: 50 }, () => 100_000n))
    const { bytes, error } = await readUntilError(await read(g, root))
    expect(error).toBeUndefined()
    expect(bytes.length).toBe(5_000_000)
    expect(bytes.subarray(4_999_000).equals(leafBytes)).toBe(true)
  })

  it('a zero-size child is refused', async () => {
    const g = await gateway()
    const leaf = await g.store.putBlock(new Uint8Array(0))
    const root = await fileNode(g, [leaf], [0n])
    await expect(read(g, root)).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('blocks out of order are tolerated within the cache budget', async () => {
    const g = await gateway({ fault: { reverseBlocks: true } })
    const content = randomBytes(1024 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const { bytes, error } = await readUntilError(await read(g, cid))
    expect(error).toBeUndefined()
    expect(bytes.equals(content)).toBe(true)
  })

  it('unrequested blocks are ignored within a bound, and beyond it the gateway is not trusted', async () => {
    const g = await gateway({ faults: [{ extraBlocks: 20 }, { extraBlocks: 400 }] })
    const content = randomBytes(300 * KiB)
    const cid = await g.store.addFile(content, { profile: 'raw-leaves' })
    const first = await readUntilError(await read(g, cid))
    expect(first.error).toBeUndefined()
    expect(first.bytes.equals(content)).toBe(true)
    await expect(read(g, cid)).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })

  it('file data inline in a node with children comes first', async () => {
    const g = await gateway()
    const head = randomBytes(50)
    const tail = randomBytes(70)
    const root = await fileNode(g, [await g.store.putBlock(tail)], [70n], head)
    const { bytes, error } = await readUntilError(await read(g, root))
    expect(error).toBeUndefined()
    expect(bytes.equals(Buffer.concat([head, tail]))).toBe(true)
    const from = await readUntilError(await read(g, root, 60))
    expect(from.bytes.equals(tail.subarray(10))).toBe(true)
  })
})
