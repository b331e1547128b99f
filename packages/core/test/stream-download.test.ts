import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { HaulError, streamDownload, type HaulEvent } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** A writable that keeps what it receives; `delayMs` makes it a slow reader (backpressure). */
function sink(options: { delayMs?: number; highWaterMark?: number; failAfter?: number } = {}): { stream: Writable; bytes: () => Buffer; maxQueued: () => number } {
  const parts: Buffer[] = []
  let received = 0
  let maxQueued = 0
  const stream = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      received += chunk.length
      parts.push(Buffer.from(chunk))
      if (options.failAfter !== undefined && received > options.failAfter) return cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
      if (options.delayMs === undefined) return cb()
      setTimeout(cb, options.delayMs)
    },
  })
  const write = stream.write.bind(stream)
  stream.write = ((chunk: Buffer, ...rest: never[]) => {
    const ok = write(chunk, ...rest)
    maxQueued = Math.max(maxQueued, stream.writableLength)
    return ok
  }) as typeof stream.write
  return { stream, bytes: () => Buffer.concat(parts), maxQueued: () => maxQueued }
}

function collect(): { events: HaulEvent[]; onEvent: (e: HaulEvent) => void } {
  const events: HaulEvent[] = []
  return { events, onEvent: (e) => events.push(e) }
}

describe('streamDownload', () => {
  it('writes the bytes in order, verified, with start, progress and done naming "-"', async () => {
    const data = testBytes(3 * MiB)
    const out = sink()
    const { events, onEvent } = collect()
    const result = await streamDownload([new MemorySource(data)], { output: out.stream, sha256: sha256(data), onEvent })
    expect(result).toEqual({ bytes: data.length, sha256: sha256(data), source: 'mem://file' })
    expect(out.bytes().equals(data)).toBe(true)
    expect(events[0]).toEqual({ event: 'start', source: 'mem://file', output: '-', resumedFrom: 0 })
    expect(events.at(-1)).toEqual({ event: 'done', path: '-', bytes: data.length, sha256: sha256(data) })
    expect(events.some((e) => e.event === 'progress' && e.total === data.length)).toBe(true)
  })

  it('a dropped connection resumes at the byte offset already written, each byte fetched once', async () => {
    const data = testBytes(2 * MiB)
    const source = new MemorySource(data, { validator: '"v1"', fault: (n) => (n === 1 ? { dropAfter: MiB + 123 } : undefined) })
    const out = sink()
    const { events, onEvent } = collect()
    await streamDownload([source], { output: out.stream, onEvent, backoff: { baseMs: 1 } })
    expect(source.reads[1]).toMatchObject({ offset: MiB + 123, validator: '"v1"' })
    expect(source.bytesServed).toBe(data.length)
    expect(out.bytes().equals(data)).toBe(true)
    expect(events.filter((e) => e.event === 'retry')).toHaveLength(1)
  })

  it('a digest mismatch is HAUL_INTEGRITY after every byte went out, saying they cannot be taken back', async () => {
    const data = testBytes(MiB)
    const out = sink()
    const { events, onEvent } = collect()
    const err = (await streamDownload([new MemorySource(data)], { output: out.stream, sha256: 'a'.repeat(64), onEvent }).catch((e: unknown) => e)) as HaulError
    expect(err).toBeInstanceOf(HaulError)
    expect(err.code).toBe('HAUL_INTEGRITY')
    expect(err.message).toMatch(/can't be taken back/)
    expect(out.bytes().length).toBe(data.length)
    expect(events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_INTEGRITY' })
  })

  it('a source that can only start over is read past what was written when its validator proves the same content', async () => {
    const data = testBytes(MiB)
    const source = new MemorySource(data, { validator: '"v1"', fault: (n) => (n === 1 ? { dropAfter: 300_000 } : n === 2 ? { restart: true } : undefined) })
    const out = sink()
    await streamDownload([source], { output: out.stream, backoff: { baseMs: 1 } })
    expect(source.reads[1]?.offset).toBe(300_000)
    expect(out.bytes().equals(data)).toBe(true)
  })

  it('starting over without a validator fails (HAUL_SOURCE) unless a digest will check the result', async () => {
    const data = testBytes(MiB)
    const faults = (n: number): { dropAfter: number } | { restart: true } | undefined => (n === 1 ? { dropAfter: 300_000 } : n === 2 ? { restart: true } : undefined)
    const unproven = await streamDownload([new MemorySource(data, { fault: faults })], { output: sink().stream, backoff: { baseMs: 1 } }).catch((e: unknown) => e)
    expect(unproven).toMatchObject({ code: 'HAUL_SOURCE', message: expect.stringMatching(/300000 bytes already written to - can't be taken back/) })
    const out = sink()
    await streamDownload([new MemorySource(data, { fault: faults })], { output: out.stream, sha256: sha256(data), backoff: { baseMs: 1 } })
    expect(out.bytes().equals(data)).toBe(true)
  })

  it('a remote that changed midway fails with HAUL_SOURCE, never a splice', async () => {
    const data = testBytes(MiB)
    const source: MemorySource = new MemorySource(data, {
      validator: '"v1"',
      fault: (n) => {
        if (n === 1) return { dropAfter: 400_000 }
        // Between the two reads the remote file is replaced.
        source.validator = '"v2"'
        source.data = Buffer.from(data.map((b) => b ^ 0xff))
        return undefined
      },
    })
    const out = sink()
    const err = await streamDownload([source], { output: out.stream, backoff: { baseMs: 1 } }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_SOURCE', message: expect.stringMatching(/changed during the download/) })
    expect(out.bytes().equals(data.subarray(0, 400_000))).toBe(true)
  })

  it('fails over to a mirror when the first source refuses for good', async () => {
    const data = testBytes(MiB)
    const gone = new MemorySource(data, { id: 'mem://a', fault: () => ({ error: new HaulError('HAUL_SOURCE', '404 Not Found', { transient: false }) }) })
    const mirror = new MemorySource(data, { id: 'mem://b' })
    const out = sink()
    const { events, onEvent } = collect()
    const result = await streamDownload([gone, mirror], { output: out.stream, onEvent })
    expect(result.source).toBe('mem://b')
    expect(out.bytes().equals(data)).toBe(true)
    expect(events).toContainEqual({ event: 'source', source: 'mem://b', reason: 'failover' })
  })

  it('waits for a slow reader instead of queueing the body in memory', async () => {
    const data = testBytes(MiB)
    const out = sink({ delayMs: 1, highWaterMark: 64 * 1024 })
    await streamDownload([new MemorySource(data)], { output: out.stream })
    expect(out.bytes().equals(data)).toBe(true)
    // MemorySource yields 64 KiB chunks: at most the high-water mark plus one chunk waits.
    expect(out.maxQueued()).toBeLessThanOrEqual(128 * 1024)
  })

  it('a write error on the output (EPIPE) is HAUL_IO and stops the download', async () => {
    const data = testBytes(2 * MiB)
    const source = new MemorySource(data)
    const err = await streamDownload([source], { output: sink({ failAfter: 100_000 }).stream }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_IO', message: expect.stringMatching(/Could not write to -: write EPIPE/) })
    expect(source.reads).toHaveLength(1)
  })

  it('an abort is HAUL_ABORTED', async () => {
    const data = testBytes(2 * MiB)
    const controller = new AbortController()
    const source = new MemorySource(data)
    source.onServe = (served) => {
      if (served >= MiB) controller.abort()
    }
    const err = await streamDownload([source], { output: sink().stream, signal: controller.signal }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_ABORTED' })
  })
})
