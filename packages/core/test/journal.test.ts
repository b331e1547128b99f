import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, open, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runDownload } from '../src/index.js'
import { StagedFile } from '../src/stage/staged-file.js'
import { stagingDirFor } from '../src/stage/staging-paths.js'
import { decodeJournal, foldJournal } from '../src/stage/journal.js'
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

/**
 * Leaves a partial download of `data` in `folder` (aborted once `stopAt` bytes were served;
 * a background datasync after every `writebackBytes`, 0: none).
 */
async function makePartial(folder: string, data: Buffer, stopAt: number, writebackBytes = 0): Promise<string> {
  const controller = new AbortController()
  const source = new MemorySource(data, { validator: '"v"' })
  source.onServe = (n) => {
    if (n >= stopAt) controller.abort()
  }
  await runDownload([source], { output: join(folder, 'f'), signal: controller.signal, writebackBytes }).catch(() => undefined)
  const staging = stagingDirFor(join(folder, 'f'))
  const writer = (await readdir(staging)).find((n) => n.startsWith('w.'))
  if (writer === undefined) throw new Error('no partial was left')
  return join(staging, writer)
}

/** The journal text with its head's boot replaced (the lines re-sealed with their checksums). */
function rewriteBoot(text: string, boot: string): string {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const json = line.slice(0, line.lastIndexOf('\t'))
      const record = JSON.parse(json) as { t: string; boot?: string }
      const out = JSON.stringify(record.t === 'head' ? { ...record, boot } : record)
      return `${out}\t${crc32(out).toString(16).padStart(8, '0')}\n`
    })
    .join('')
}

describe('journal', () => {
  it('decodes records up to a torn or corrupt line and ignores everything after it', () => {
    const good = '{"t":"head","v":2,"source":"s","expected":"","validators":{},"created":"x","boot":"b"}'
    const crc = (t: string): string => crc32(t).toString(16).padStart(8, '0')
    const line = (t: string): string => `${t}\t${crc(t)}\n`
    const data = '{"t":"data","s":0,"e":10}'
    expect(decodeJournal(line(good) + line(data))).toHaveLength(2)
    expect(decodeJournal(line(good) + line(data).slice(0, -1))).toHaveLength(1)
    expect(decodeJournal(line(good) + line(data).replace('"e":10', '"e":99') + line(data))).toHaveLength(1)
    expect(decodeJournal(line(data))).toHaveLength(0)
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
      stage.record(0, data.length)
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

  it('after a reboot, does not trust claimed bytes no datasync covered (power-cut approximation)', async () => {
    const data = testBytes(10 * MiB)
    const writerDir = await makePartial(dir, data, 9 * MiB)
    // A power cut: the page cache is lost (a page inside the first claimed range reads as zeros)
    // and the machine boots again (the journal was written in another boot).
    const file = await open(join(writerDir, 'data'), 'r+')
    await file.write(Buffer.alloc(4096), 0, 4096, MiB)
    await file.close()
    await writeFile(join(writerDir, 'journal'), rewriteBoot(await readFile(join(writerDir, 'journal'), 'utf8'), 'an-earlier-boot'))
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output: join(dir, 'f') })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(source.reads.some((r) => r.offset <= MiB)).toBe(true)
    expect(result.resumedFrom).toBeLessThan(9 * MiB)
  })

  it('after a reboot, trusts the claims a sync record covers, and no others', async () => {
    const data = testBytes(12 * MiB)
    const writerDir = await makePartial(dir, data, 11 * MiB, 4 * MiB)
    const text = await readFile(join(writerDir, 'journal'), 'utf8')
    const state = foldJournal(decodeJournal(text))!
    const synced = state.claims.filter((c) => c.synced)
    expect(synced.length).toBeGreaterThan(0)
    expect(synced.length).toBeLessThan(state.claims.length)
    const syncedEnd = Math.max(...synced.map((c) => c.e))
    await writeFile(join(writerDir, 'journal'), rewriteBoot(text, 'an-earlier-boot'))
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output: join(dir, 'f') })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(result.resumedFrom).toBe(syncedEnd)
  })

  it('in the same boot, trusts every claim without reading the partial back', async () => {
    const data = testBytes(10 * MiB)
    const writerDir = await makePartial(dir, data, 9 * MiB)
    const state = foldJournal(decodeJournal(await readFile(join(writerDir, 'journal'), 'utf8')))!
    const claimed = state.claims.reduce((n, c) => n + (c.e - c.s), 0)
    expect(state.claims.every((c) => !c.synced)).toBe(true)
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output: join(dir, 'f') })
    expect(result.resumedFrom).toBe(claimed)
    expect(source.bytesServed).toBe(data.length - claimed)
  })
})
