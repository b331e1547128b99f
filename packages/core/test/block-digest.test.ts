import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { digestBlock } from '../src/verify/block-digest.js'
import { HashThread } from '../src/verify/hash-thread.js'
import { testBytes } from './helpers/memory-source.js'

const KiB = 1024

/** A block at an offset inside memory of its own, the way the CAR reader hands one over. */
function ownedBlock(length: number, offset: number, seed: number): { bytes: Uint8Array; content: Buffer } {
  const content = testBytes(length, seed)
  const memory = Buffer.allocUnsafeSlow(offset + length)
  content.copy(memory, offset)
  return { bytes: new Uint8Array(memory.buffer, offset, length), content }
}

describe('digestBlock', () => {
  it('hashes a big transferable block on the hash thread and gives the same bytes back at the same place', async () => {
    expect(HashThread.shared()).toBeDefined()
    const { bytes, content } = ownedBlock(1024 * KiB, 40, 3)
    const pending = digestBlock('sha256', bytes, true)
    // It went to the thread: the caller's view is detached until the promise settles.
    expect(bytes.length).toBe(0)
    const { digest, bytes: back } = await pending
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(content).digest('hex'))
    expect(back.byteOffset).toBe(40)
    expect(Buffer.from(back.buffer, back.byteOffset, back.length).equals(content)).toBe(true)
  })

  it('hashes sha512 on the thread too', async () => {
    const { bytes, content } = ownedBlock(300 * KiB, 7, 4)
    const { digest } = await digestBlock('sha512', bytes, true)
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha512').update(content).digest('hex'))
  })

  it('never moves memory it was not given: views into shared memory and small blocks hash in place', async () => {
    const shared = testBytes(512 * KiB, 5)
    const view = shared.subarray(1000, 1000 + 256 * KiB)
    const big = await digestBlock('sha256', view, false)
    expect(shared.length).toBe(512 * KiB)
    expect(big.bytes).toBe(view)
    expect(Buffer.from(big.digest).toString('hex')).toBe(createHash('sha256').update(view).digest('hex'))

    const { bytes, content } = ownedBlock(16 * KiB, 0, 6)
    const small = digestBlock('sha256', bytes, true)
    expect(bytes.length).toBe(16 * KiB) // not detached: below the size worth a trip to the thread
    expect(Buffer.from((await small).digest).toString('hex')).toBe(createHash('sha256').update(content).digest('hex'))
  })

  it('many blocks in flight at once each get their own digest', async () => {
    const blocks = Array.from({ length: 12 }, (_, i) => ownedBlock(128 * KiB + i, i, 10 + i))
    const results = await Promise.all(blocks.map((b) => digestBlock('sha256', b.bytes, true)))
    results.forEach((r, i) => expect(Buffer.from(r.digest).toString('hex')).toBe(createHash('sha256').update(blocks[i]!.content).digest('hex')))
  })

  it('a digest the thread cannot make rejects as a transient source error, and the thread goes on', async () => {
    const { bytes } = ownedBlock(256 * KiB, 0, 30)
    await expect(digestBlock('no-such-hash', bytes, true)).rejects.toMatchObject({ code: 'HAUL_SOURCE', transient: true })
    const next = ownedBlock(256 * KiB, 8, 31)
    const { digest } = await digestBlock('sha256', next.bytes, true)
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(next.content).digest('hex'))
  })
})
