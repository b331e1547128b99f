import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, open, readFile, readdir, rm, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runDownload } from '../src/index.js'
import { StagedFile } from '../src/stage/staged-file.js'
import { stagingDirFor } from '../src/stage/staging-paths.js'
import { createRangeChecksum, decodeJournal, foldJournal } from '../src/stage/journal.js'
import { createXXHash64 } from '../src/verify/wasm-hashers.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-journal-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Leaves a partial download of `data` in `folder` (aborted once `stopAt` bytes were served). */
async function makePartial(folder: string, data: Buffer, stopAt: number): Promise<string> {
  const controller = new AbortController()
  const source = new MemorySource(data, { validator: '"v"' })
  source.onServe = (n) => {
    if (n >= stopAt) controller.abort()
  }
  await runDownload([source], { output: join(folder, 'f'), signal: controller.signal }).catch(() => undefined)
  const staging = stagingDirFor(join(folder, 'f'))
  const writer = (await readdir(staging)).find((n) => n.startsWith('w.'))
  if (writer === undefined) throw new Error('no partial was left')
  return join(staging, writer)
}

describe('journal', () => {
  it('decodes records up to a torn or corrupt line and ignores everything after it', () => {
    const good = '{"t":"head","v":1,"source":"s","expected":"","validators":{},"created":"x"}'
    const crc = (t: string): string => crc32(t).toString(16).padStart(8, '0')
    const line = (t: string): string => `${t}\t${crc(t)}\n`
    const data = '{"t":"data","s":0,"e":10,"x":"ab"}'
    expect(decodeJournal(line(good) + line(data))).toHaveLength(2)
    expect(decodeJournal(line(good) + line(data).slice(0, -1))).toHaveLength(1)
    expect(decodeJournal(line(good) + line(data).replace('"e":10', '"e":99') + line(data))).toHaveLength(1)
    expect(decodeJournal(line(data))).toHaveLength(0)
  })

  it('gives every range checksum its own state while they share one WebAssembly instance', async () => {
    const [a, b, c] = [await createRangeChecksum(), await createRangeChecksum(), await createRangeChecksum()]
    const parts = [testBytes(100_000), testBytes(7), testBytes(4096).reverse(), testBytes(33)]
    // Interleaved as concurrent downloads use them: each update and digest on another one's heels.
    for (const part of parts) {
      a.update(part)
      b.update(part.subarray(1))
      c.update(part)
    }
    const alone = async (chunks: Uint8Array[]): Promise<string> => {
      const h = await createXXHash64()
      h.init()
      for (const chunk of chunks) h.update(chunk)
      return h.digest('hex')
    }
    expect(b.digest('hex')).toBe(await alone(parts.map((p) => p.subarray(1))))
    expect(a.digest('hex')).toBe(await alone(parts))
    // A spent checksum starts over with init(); the others' states are untouched by that.
    b.init().update(parts[1]!)
    expect(c.digest('hex')).toBe(await alone(parts))
    expect(b.digest('hex')).toBe(await alone([parts[1]!]))
  })

  it('holds a new journal until a data record needs the disk: never written for a whole file in one record that commits, written by an abort', async () => {
    const data = testBytes(16 * 1024)
    const identity = { source: 'mem://small', expected: '', size: data.length }
    const signal = new AbortController().signal
    const stageWith = async (output: string): Promise<{ stage: StagedFile; journal: string }> => {
      const stage = await StagedFile.open(output, identity, 0, signal)
      stage.noteValidator('mem://small', '"v"')
      await stage.writeAt(data, data.length, 0)
      stage.written(0, data.length)
      const checksum = await createRangeChecksum()
      stage.record(0, data.length, checksum.update(data).digest('hex'))
      return { stage, journal: stage.journalPath }
    }
    // Committed: no journal at any point, and nothing left beside the file.
    const committed = join(dir, 'committed.bin')
    const first = await stageWith(committed)
    expect(existsSync(first.journal)).toBe(false)
    await first.stage.closeJournal()
    expect(await first.stage.commitTo(committed, {})).toBe(true)
    await first.stage.remove()
    first.stage.leave()
    expect(existsSync(first.journal)).toBe(false)
    // Aborted before the commit: the held records go to disk, and the next stage resumes from them.
    const aborted = join(dir, 'aborted.bin')
    const second = await stageWith(aborted)
    expect(existsSync(second.journal)).toBe(false)
    await second.stage.abandon(true)
    second.stage.leave()
    expect(foldJournal(decodeJournal(await readFile(second.journal, 'utf8')))).toMatchObject({ head: { source: 'mem://small', validators: { 'mem://small': '"v"' } }, claims: [{ s: 0, e: data.length }] })
    const resumed = await StagedFile.open(aborted, identity, 0, signal)
    try {
      expect(resumed.resumedFrom).toBe(data.length)
    } finally {
      await resumed.abandon(false)
      resumed.leave()
    }
    // (No lock here: the staging roots stay; the shell removes them.) The writer's folder is gone.
    expect(await readdir(stagingDirFor(committed))).toEqual([])
    expect(await readFile(committed)).toEqual(data)
  })

  it('resumes correctly when the journal is cut at every byte of its last record', async () => {
    const data = testBytes(10 * MiB)
    const origin = join(dir, 'origin')
    const writerDir = await makePartial(origin, data, 9 * MiB)
    const journal = await readFile(join(writerDir, 'journal'), 'utf8')
    const records = decodeJournal(journal)
    const lastStart = journal.lastIndexOf('\n', journal.length - 2) + 1
    const withLast = foldJournal(records)!.claims.reduce((n, c) => n + (c.e - c.s), 0)
    const withoutLast = foldJournal(records.slice(0, -1))!.claims.reduce((n, c) => n + (c.e - c.s), 0)
    expect(withLast).toBeGreaterThan(withoutLast)
    for (let cut = lastStart; cut <= journal.length; cut++) {
      const copy = join(dir, `cut-${cut}`)
      await cp(origin, copy, { recursive: true })
      const copiedWriter = join(stagingDirFor(join(copy, 'f')), writerDir.split('/').at(-1)!)
      await truncate(join(copiedWriter, 'journal'), cut)
      const source = new MemorySource(data, { validator: '"v"' })
      const result = await runDownload([source], { output: join(copy, 'f') })
      expect(sha256(await readFile(join(copy, 'f')))).toBe(sha256(data))
      expect(result.resumedFrom).toBe(cut === journal.length ? withLast : withoutLast)
      expect(source.bytesServed).toBe(data.length - result.resumedFrom)
      await rm(copy, { recursive: true })
    }
  })

  it('does not trust claimed bytes that never reached the disk (power-cut approximation)', async () => {
    const data = testBytes(10 * MiB)
    const writerDir = await makePartial(dir, data, 9 * MiB)
    // Zero a page inside the first claimed range, as if the page cache was lost.
    const file = await open(join(writerDir, 'data'), 'r+')
    await file.write(Buffer.alloc(4096), 0, 4096, MiB)
    await file.close()
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output: join(dir, 'f') })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(source.reads.some((r) => r.offset <= MiB)).toBe(true)
    expect(result.resumedFrom).toBeLessThan(9 * MiB)
  })
})
