// Property tests (fast-check, bounded) for the decoding of gateway bytes: the streaming CAR
// reader and the dag-pb/UnixFS node decoder. Whatever the bytes, they return or throw the
// documented errors (CarHeaderError for a stream that is not a CAR, HaulError otherwise) and
// never buffer past their bounds.
import fc from 'fast-check'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { isHaulError } from '@haul/core'
import { CarHeaderError, CarReader } from '../src/car-reader.js'
import { decodeNode } from '../src/unixfs.js'
import { varint } from './helpers.js'

const RUNS = { numRuns: 300 }


function carHeader(root: CID): number[] {
  const link = [0, ...root.bytes]
  const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0))
  const body = [0xa2, 0x65, ...ascii('roots'), 0x81, 0xd8, 0x2a, 0x58, link.length, ...link, 0x67, ...ascii('version'), 0x01]
  return [...varint(body.length), ...body]
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

/** Reads a whole CAR; returns the sections or the error, which must be a documented one. */
async function readAll(bytes: Uint8Array, chunk: number): Promise<number> {
  const reader = new CarReader(chunked(bytes, chunk)[Symbol.asyncIterator](), 'fuzz')
  let sections = 0
  try {
    await reader.header()
    for (let i = 0; i < 10_000; i++) {
      const s = await reader.next()
      if (s === null) break
      expect(s.bytes.length).toBeLessThanOrEqual(2 * 1024 * 1024)
      sections++
    }
  } catch (err) {
    if (!(err instanceof CarHeaderError) && !isHaulError(err)) throw err
  }
  return sections
}

const blocks = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 5 })
async function validCar(contents: Uint8Array[]): Promise<Uint8Array> {
  const sections: number[] = []
  let root: CID | undefined
  for (const b of contents) {
    const cid = CID.createV1(raw.code, await sha256.digest(b))
    root ??= cid
    sections.push(...varint(cid.bytes.length + b.length), ...cid.bytes, ...b)
  }
  return Uint8Array.from([...carHeader(root!), ...sections])
}

describe('CarReader (fuzz)', () => {
  it('arbitrary bytes: a documented error or sections, never a crash', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 64 }), async (bytes, chunk) => void (await readAll(bytes, chunk))), RUNS)
  })

  it('a valid CAR in any chunking yields every section; with one byte changed or cut, a documented error or fewer sections', async () => {
    await fc.assert(
      fc.asyncProperty(blocks, fc.integer({ min: 1, max: 97 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (contents, chunk, at, delta, cut) => {
        const car = await validCar(contents)
        expect(await readAll(car, chunk)).toBe(contents.length)
        const i = at % car.length
        const bad = cut ? car.subarray(0, i) : Uint8Array.from(car, (b, j) => (j === i ? (b + delta) & 0xff : b))
        await readAll(bad, chunk)
      }),
      RUNS,
    )
  })
})

describe('decodeNode (fuzz)', () => {
  const pbCid = CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n')

  it('arbitrary bytes as dag-pb: a node or HAUL_INTEGRITY', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decodeNode(pbCid, bytes, 'fuzz')
        } catch (err) {
          expect(isHaulError(err, 'HAUL_INTEGRITY')).toBe(true)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('a UnixFS file node with any block sizes: accepted only when sizes match links and add up to a safe size', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -1n, max: 2n ** 64n - 1n }), { maxLength: 6 }), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 20 }), (sizes, links, data) => {
        const fs = new UnixFS({ type: 'file', blockSizes: sizes.map((s) => (s < 0n ? 0n : s)), data })
        const bytes = dagPb.encode(dagPb.prepare({ Data: fs.marshal(), Links: Array.from({ length: links }, () => ({ Hash: pbCid })) }))
        try {
          const node = decodeNode(pbCid, bytes, 'fuzz')
          expect(node.kind).toBe('file')
          if (node.kind !== 'file') return
          expect(node.links.length).toBe(node.sizes.length)
          expect(Number.isSafeInteger(node.size)).toBe(true)
          expect(node.sizes.every((s) => s > 0)).toBe(true)
          expect(node.size).toBe(data.length + node.sizes.reduce((a, b) => a + b, 0))
        } catch (err) {
          expect(isHaulError(err, 'HAUL_INTEGRITY')).toBe(true)
        }
      }),
      { numRuns: 1000 },
    )
  })
})
