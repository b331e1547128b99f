import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBLAKE3 } from 'hash-wasm'
import { afterEach, describe, expect, it } from 'vitest'
import { killChildren, spawnNode } from '@haul/testkit'
import { BufferPool } from '../src/fetch/buffer-pool.js'
import { HashThread } from '../src/verify/hash-thread.js'
import { StreamDigest, THREAD_MIN_BYTES, hashFile } from '../src/verify/hasher.js'
import { testBytes } from './helpers/memory-source.js'

const MiB = 1024 * 1024
const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname

afterEach(async () => {
  await killChildren()
})

describe('StreamDigest on the hash thread', () => {
  it('digests pooled buffers in order, matching node:crypto and hash-wasm, and gives every buffer back whole', async () => {
    expect(HashThread.shared()).toBeDefined()
    const data = testBytes(9 * MiB + 12345, 7)
    const pool = new BufferPool(MiB, 3)
    const digest = await StreamDigest.create(['sha512', 'md5', 'blake3'])
    const returned: Array<{ memory: ArrayBufferLike; bytes: number }> = []
    const release = (b: Buffer): void => {
      returned.push({ memory: b.buffer, bytes: b.byteLength })
      pool.release(b)
    }
    let updates = 0
    for (let at = 0; at < data.length; at += MiB) {
      const buffer = await pool.acquire() // waits while all 3 are on the thread: the pool bounds memory
      const n = data.copy(buffer, 0, at, Math.min(data.length, at + MiB))
      digest.update(buffer, n, release)
      updates++
    }
    const out = await digest.digest()
    expect(out.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    expect(out.sha512).toBe(createHash('sha512').update(data).digest('hex'))
    expect(out.md5).toBe(createHash('md5').update(data).digest('hex'))
    const blake3 = await createBLAKE3()
    blake3.init()
    blake3.update(data)
    expect(out.blake3).toBe(blake3.digest('hex'))
    // Every buffer came back with its memory (not a detached view), and only 3 were ever made.
    expect(returned).toHaveLength(updates)
    expect(returned.map((r) => r.bytes)).toEqual(returned.map(() => MiB))
  })

  it('hashes a view that does not own its memory through a copy, and the view is released at once', async () => {
    const data = testBytes(3 * MiB, 9)
    const digest = await StreamDigest.create([])
    const released: Buffer[] = []
    const view = data.subarray(MiB) // shares data's ArrayBuffer: must not be transferred
    digest.update(view, view.length, (b) => released.push(b))
    expect(released).toEqual([view])
    expect(data.byteLength).toBe(3 * MiB) // still usable here
    expect((await digest.digest()).sha256).toBe(createHash('sha256').update(view).digest('hex'))
  })

  it('hashes a stream known to be small where it is read, handing each buffer back at once', async () => {
    const data = testBytes(2 * MiB, 5)
    const digest = await StreamDigest.create([], true, () => data.length)
    const released: Buffer[] = []
    const buffer = Buffer.from(data) // owns its memory: the thread would have taken it
    digest.update(buffer, buffer.length, (b) => released.push(b))
    expect(released).toEqual([buffer])
    expect(buffer.byteLength).toBe(2 * MiB)
    expect((await digest.digest()).sha256).toBe(createHash('sha256').update(data).digest('hex'))
  })

  it('hashFile gives the same digests with and without the thread, and the thread never keeps a process alive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haul-hash-'))
    try {
      // Big enough to go to the thread: smaller files are hashed where they are read.
      const data = testBytes(THREAD_MIN_BYTES + 1, 3)
      const path = join(dir, 'f')
      await writeFile(path, data)
      const inProcess = await hashFile(path, ['blake3'])
      expect(inProcess.sha256).toBe(createHash('sha256').update(data).digest('hex'))
      const results = []
      for (const env of [{}, { HAUL_HASH_THREAD: '0' }]) {
        const child = spawnNode(fixture('hash-child.mjs'), [path], { env })
        // A child whose hash thread held the event loop would never exit: this wait would fail.
        expect(await child.waitForExit({ timeoutMs: 20_000 })).toMatchObject({ code: 0 })
        results.push(JSON.parse(child.stdout) as Record<string, unknown>)
      }
      expect(results[0]).toEqual({ ...inProcess, thread: true })
      expect(results[1]).toEqual({ ...inProcess, thread: false })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('BufferPool', () => {
  it('bounds the buffers, hands a returned one to the oldest waiter, and replaces one that never comes back', async () => {
    const pool = new BufferPool(16, 2)
    const a = pool.take()!
    const b = pool.take()!
    expect(pool.take()).toBeUndefined()
    const waiting = pool.acquire()
    pool.release(a)
    expect((await waiting) === a).toBe(true)
    // A buffer transferred away and lost (a dead thread) comes back detached: a fresh one replaces it.
    const lost = pool.acquire()
    structuredClone(b.buffer, { transfer: [b.buffer as ArrayBuffer] })
    expect(b.byteLength).toBe(0)
    pool.release(b)
    const fresh = await lost
    expect(fresh.byteLength).toBe(16)
    expect(fresh === b).toBe(false)
  })
})
