import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CarHeaderError, CarReader } from '../src/car-reader.js'
import { varint } from './helpers.js'

/** CARv1 header for one root, hand-encoded (canonical DAG-CBOR). */
function header(root: CID): Uint8Array {
  const link = Uint8Array.of(0, ...root.bytes)
  const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0))
  const body = [0xa2, 0x65, ...ascii('roots'), 0x81, 0xd8, 0x2a, 0x58, link.length, ...link, 0x67, ...ascii('version'), 0x01]
  return Uint8Array.from([body.length, ...body])
}


/** An endless source that counts how much was pulled from it. */
function endless(prefix: Uint8Array): { iterator: AsyncIterator<Uint8Array>; pulled: () => number } {
  let pulled = 0
  let first = true
  return {
    iterator: {
      async next() {
        const value = first ? prefix : new Uint8Array(64 * 1024)
        first = false
        pulled += value.length
        return { done: false, value }
      },
    },
    pulled: () => pulled,
  }
}

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('CarReader', () => {
  it('marks a section copied together from several chunks as owned, and its CID outlives the memory', async () => {
    const block = new Uint8Array(5000).fill(9)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    const car = Uint8Array.from([...header(cid), ...varint(cid.bytes.length + block.length), ...cid.bytes, ...block])
    const split = new CarReader(chunks(car, 1000)[Symbol.asyncIterator](), 'test')
    await split.header()
    const owned = await split.next()
    expect(owned?.owned).toBe(true)
    // Give the section's memory away, as verification does with a big block.
    structuredClone(owned!.bytes.buffer, { transfer: [owned!.bytes.buffer as ArrayBuffer] })
    expect(owned!.bytes.length).toBe(0)
    expect(owned!.cid.equals(cid)).toBe(true)
    expect(owned!.cid.toString()).toBe(cid.toString())

    const whole = new CarReader(chunks(car, 100_000)[Symbol.asyncIterator](), 'test')
    await whole.header()
    const view = await whole.next()
    expect(view?.owned).toBe(false) // a view into the network chunk: never handed to another thread
    expect(Buffer.from(view!.bytes).equals(Buffer.from(block))).toBe(true)
  })

  it('reads sections split across arbitrary chunk boundaries', async () => {
    const block = new Uint8Array(5000).fill(7)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    const car = Uint8Array.from([...header(cid), ...varint(cid.bytes.length + block.length), ...cid.bytes, ...block])
    for (const size of [1, 3, 100, 100_000]) {
      const reader = new CarReader(chunks(car, size)[Symbol.asyncIterator](), 'test')
      await reader.header()
      const section = await reader.next()
      expect(section?.cid.equals(cid)).toBe(true)
      expect(section?.bytes).toEqual(block)
      expect(await reader.next()).toBeNull()
    }
  })

  it('refuses a section announced over the block limit without buffering it', async () => {
    const cid = CID.createV1(raw.code, await sha256.digest(new Uint8Array(1)))
    const source = endless(Uint8Array.from([...header(cid), ...varint(1024 ** 3)]))
    const reader = new CarReader(source.iterator, 'test')
    await reader.header()
    await expect(reader.next()).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(source.pulled()).toBeLessThan(256 * 1024)
  })

  it('says a stream that is not a CAR has no usable header', async () => {
    const html = new TextEncoder().encode('<!doctype html><html>…')
    await expect(new CarReader(chunks(html, 10)[Symbol.asyncIterator](), 'test').header()).rejects.toBeInstanceOf(CarHeaderError)
    const huge = endless(Uint8Array.from(varint(10 * 1024 * 1024)))
    await expect(new CarReader(huge.iterator, 'test').header()).rejects.toBeInstanceOf(CarHeaderError)
    expect(huge.pulled()).toBeLessThan(256 * 1024)
  })

  it('a stream cut inside a section is an integrity error', async () => {
    const block = new Uint8Array(100)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    const car = Uint8Array.from([...header(cid), ...varint(cid.bytes.length + block.length), ...cid.bytes, ...block.subarray(0, 50)])
    const reader = new CarReader(chunks(car, 7)[Symbol.asyncIterator](), 'test')
    await reader.header()
    await expect(reader.next()).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })
})
