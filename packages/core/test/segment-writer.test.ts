import { afterEach, describe, expect, it, vi } from 'vitest'
import * as D from '../src/defaults.js'
import { BufferLoan } from '../src/fetch/buffer-loan.js'
import { BufferPool } from '../src/fetch/buffer-pool.js'
import { SegmentWriter, type SegmentSink } from '../src/fetch/segment-writer.js'
import { testBytes } from './helpers/memory-source.js'

const MiB = 1024 * 1024
const CHUNK = 64 * 1024

/** A sink over memory that remembers what reached it, in order. */
function memorySink(pool: BufferPool): SegmentSink & { file: Buffer; records: Array<[number, number]>; landings: Array<[number, number]>; handed: Array<[number, number]> } {
  const file = Buffer.alloc(4 * MiB)
  const records: Array<[number, number]> = []
  const landings: Array<[number, number]> = []
  const handed: Array<[number, number]> = []
  return {
    pool,
    checkpointBytes: 2 * MiB,
    file,
    records,
    handed,
    landings,
    writeAt: async (buffer, length, at) => {
      buffer.copy(file, at, 0, length)
    },
    written: (at, buffer, length) => {
      handed.push([at, length])
      pool.release(buffer)
    },
    landed: (at, length) => {
      landings.push([at, length])
    },
    record: (start, end) => {
      records.push([start, end])
    },
  }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('SegmentWriter', () => {
  it('journals a slowly filled lent buffer by time, writing its filled part while its source goes on filling it', async () => {
    // Only the clock is faked: each chunk arrives a checkpoint interval after the one before (a slow stream).
    vi.useFakeTimers({ toFake: ['Date'] })
    const pool = new BufferPool(MiB, 4)
    const loan = new BufferLoan(pool)
    const sink = memorySink(pool)
    const writer = SegmentWriter.create(sink, 0, loan)
    const data = testBytes(MiB + CHUNK)
    const lent = loan.take()!
    for (let at = 0; at < MiB; at += CHUNK) {
      data.copy(lent, at, at, at + CHUNK)
      vi.setSystemTime(Date.now() + D.DEFAULT_CHECKPOINT_MS)
      await writer.push(lent.subarray(at, at + CHUNK))
      // Let the write of what landed complete before the next chunk comes.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
      if (at + CHUNK < MiB) {
        // Not handed on while its source still fills it, but on disk and in the journal.
        expect(sink.handed).toEqual([])
        expect(sink.records.at(-1)?.[1]).toBe(at + CHUNK)
      }
    }
    await writer.push(data.subarray(MiB))
    await writer.drain()
    expect(sink.landings.length).toBeGreaterThan(8)
    // The lent buffer went on whole, once, after it was full; the copied chunk after it.
    expect(sink.handed).toEqual([
      [0, MiB],
      [MiB, CHUNK],
    ])
    expect(sink.file.subarray(0, data.length).equals(data)).toBe(true)
    expect(sink.records.at(-1)?.[1]).toBe(data.length)
  })

  it('after a failed write, writes nothing more by time and drains to the error instead of waiting forever', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const pool = new BufferPool(MiB, 4)
    const loan = new BufferLoan(pool)
    const failure = Object.assign(new Error('no space'), { code: 'ENOSPC' })
    const sink: SegmentSink = { ...memorySink(pool), writeAt: () => Promise.reject(failure) }
    const writer = SegmentWriter.create(sink, 0, loan)
    const lent = loan.take()!
    const errors: unknown[] = []
    for (let at = 0; at < 4 * CHUNK; at += CHUNK) {
      vi.setSystemTime(Date.now() + D.DEFAULT_CHECKPOINT_MS)
      await writer.push(lent.subarray(at, at + CHUNK)).catch((err: unknown) => errors.push(err))
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    }
    await expect(writer.drain()).rejects.toBe(failure)
    expect(errors.length).toBeGreaterThan(0)
    loan.settle()
  })
})
