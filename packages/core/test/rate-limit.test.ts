import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HaulError, RateLimiter, runDownload, type HaulEvent } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const KiB = 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Drains `body` and returns how many bytes came out and the largest piece. */
async function drain(body: AsyncIterable<Uint8Array>): Promise<{ bytes: number; largest: number }> {
  let bytes = 0
  let largest = 0
  for await (const piece of body) {
    bytes += piece.length
    largest = Math.max(largest, piece.length)
  }
  return { bytes, largest }
}

async function* chunks(total: number, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < total; at += size) yield new Uint8Array(Math.min(size, total - at))
}

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-rate-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('RateLimiter', () => {
  it('passes bytes at its rate: 256 KiB at 256 KiB/s take about 1 s, cut into pieces of one burst', async () => {
    const limiter = new RateLimiter(256 * KiB)
    expect(limiter.burstBytes).toBe(Math.floor((256 * KiB) / 10))
    const started = performance.now()
    const { bytes, largest } = await drain(limiter.pace(chunks(256 * KiB, 64 * KiB)))
    const seconds = (performance.now() - started) / 1000
    expect(bytes).toBe(256 * KiB)
    expect(largest).toBeLessThanOrEqual(limiter.burstBytes)
    // Everything but the first burst waits for tokens.
    expect(seconds).toBeGreaterThanOrEqual((256 * KiB - limiter.burstBytes) / (256 * KiB) - 0.01)
    expect(seconds).toBeLessThan(4)
  })

  it('one limiter shared by two bodies caps their sum', async () => {
    const limiter = new RateLimiter(256 * KiB)
    const started = performance.now()
    const [a, b] = await Promise.all([drain(limiter.pace(chunks(128 * KiB, 16 * KiB))), drain(limiter.pace(chunks(128 * KiB, 16 * KiB)))])
    const seconds = (performance.now() - started) / 1000
    expect(a.bytes + b.bytes).toBe(256 * KiB)
    expect(seconds).toBeGreaterThanOrEqual((256 * KiB - limiter.burstBytes) / (256 * KiB) - 0.01)
  })

  it('a limiter within another obeys the slower of the two', async () => {
    const total = new RateLimiter(128 * KiB)
    const own = new RateLimiter(4096 * KiB, { within: total })
    const started = performance.now()
    await drain(own.pace(chunks(128 * KiB, 32 * KiB)))
    expect((performance.now() - started) / 1000).toBeGreaterThanOrEqual((128 * KiB - total.burstBytes) / (128 * KiB) - 0.01)
  })

  it('a wait for tokens ends at once when the signal aborts, with its reason', async () => {
    const limiter = new RateLimiter(1024, { burstBytes: 1024 })
    await limiter.take(1024)
    const controller = new AbortController()
    const waiting = limiter.take(100 * 1024, controller.signal)
    const started = performance.now()
    controller.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('refuses a rate that is not a positive number (HAUL_USAGE)', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new RateLimiter(rate)).toThrow(expect.objectContaining({ code: 'HAUL_USAGE' }) as HaulError)
    }
  })
})

describe('runDownload with rateLimit', () => {
  it('caps every connection of one download together (3 connections, 384 KiB at 256 KiB/s ≥ 1.4 s)', async () => {
    const data = testBytes(384 * KiB)
    const out = join(dir, 'f')
    const started = performance.now()
    await runDownload([new MemorySource(data)], { output: out, connections: 3, rateLimit: 256 * KiB })
    expect((performance.now() - started) / 1000).toBeGreaterThanOrEqual((384 * KiB - 256 * KiB * 0.1) / (256 * KiB) - 0.01)
    expect(sha256(await readFile(out))).toBe(sha256(data))
  })

  it('a capped download below the low-speed minimum is not taken for a stall', async () => {
    const data = testBytes(1024)
    const events: HaulEvent[] = []
    const out = join(dir, 'slow')
    // 768 B/s is below the default minimum of 1024 B/s, checked here every 200 ms.
    await runDownload([new MemorySource(data)], { output: out, rateLimit: 768, lowSpeedWindowMs: 200, onEvent: (e) => events.push(e) })
    expect(events.filter((e) => e.event === 'retry')).toEqual([])
    expect(sha256(await readFile(out))).toBe(sha256(data))
  })
})
