// A new writer stages its data as a lone partial (`w.….part` in the staging root, or under a
// folder lock `.NAME.haul.TAG.part` beside the destination) and makes its
// folder only when its journal goes to disk. These pin down both shapes and how other writers
// treat a lone partial left behind: never adopted (no journal vouches for it), kept while its
// writer lives, removed once it is dead. Writers here are real processes.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { listStaged, runDownload } from '../src/index.js'
import { StagedFile } from '../src/stage/staged-file.js'
import { stagingDirFor } from '../src/stage/staging-paths.js'
import { LONE_SUFFIX, writerName } from '../src/stage/writers.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'
import { killChildren, spawnNode } from '@haul/testkit'

const LOCK_CHILD = fileURLToPath(new URL('./fixtures/lock-child.mjs', import.meta.url))

let dir: string
let child: ChildProcess | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-lone-'))
})
afterEach(async () => {
  await killChildren()
  child?.kill('SIGKILL')
  child = undefined
  await rm(dir, { recursive: true, force: true })
})

/** A live process (bounded: it exits by itself after 30 s) and its pid. */
async function liveProcess(): Promise<number> {
  child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000); process.stdout.write("up")'], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.once('data', () => resolve())
    child!.once('error', reject)
  })
  return child.pid!
}

/** A lone partial's file name as the process `pid` would have named it. */
function lonePartialOf(pid: number): string {
  const start = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!
  // w.HOST.PID.START.TAG (a host tag has no dots)
  const [w, host, , , tag] = writerName().split('.')
  return `${w}.${host}.${pid}.${start}.${tag}${LONE_SUFFIX}`
}

describe('a lone partial', () => {
  it('is the whole stage until the journal goes to disk; then the data moves into the writer folder, beside its journal', async () => {
    const output = join(dir, 'f.bin')
    const data = testBytes(64 * 1024)
    const stage = await StagedFile.open(output, { source: 'mem://file', expected: '', size: data.length }, 0, new AbortController().signal)
    const root = stagingDirFor(output)
    try {
      const [entry] = await readdir(root)
      expect(entry).toMatch(/^w\..*\.part$/)
      expect(stage.dataPath).toBe(join(root, entry!))
      stage.noteValidator('mem://file', '"v"')
      // Half the body: a record that is not the whole file puts the journal on disk.
      await stage.writeAt(data, data.length / 2, 0)
      stage.written(0, data.length / 2)
      stage.record(0, data.length / 2)
      await stage.abandon(true)
      const folder = entry!.slice(0, -LONE_SUFFIX.length)
      expect(await readdir(root)).toEqual([folder])
      expect((await readdir(join(root, folder))).sort()).toEqual(['data', 'journal'])
      expect(stage.dataPath).toBe(join(root, folder, 'data'))
      expect((await readFile(stage.dataPath)).equals(data.subarray(0, data.length / 2))).toBe(true)
    } finally {
      stage.leave()
    }
    // The folder is a partial like any other: the next run resumes from it.
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output })
    expect(result.resumedFrom).toBe(data.length / 2)
    expect(source.bytesServed).toBe(data.length / 2)
    expect(await readdir(dir)).toEqual(['f.bin'])
  })

  it('beside the destination (under a folder lock) is noted in the lock file before it is made, and makes no staging folder until the journal goes to disk', async () => {
    const output = join(dir, 'f.bin')
    const data = testBytes(64 * 1024, 5)
    const noted: string[] = []
    const stage = await StagedFile.open(output, { source: 'mem://file', expected: '', size: data.length }, 0, new AbortController().signal, async (name) => {
      // Noted before the file exists.
      await expect(stat(join(dir, name))).rejects.toMatchObject({ code: 'ENOENT' })
      noted.push(name)
    })
    try {
      expect(noted).toHaveLength(1)
      expect(noted[0]).toMatch(/^\.f\.bin\.haul\.[0-9a-f]{9,}\.part$/)
      expect(stage.dataPath).toBe(join(dir, noted[0]!))
      expect(await readdir(dir)).toEqual([noted[0]])
      stage.noteValidator('mem://file', '"v"')
      await stage.writeAt(data, data.length / 2, 0)
      stage.written(0, data.length / 2)
      stage.record(0, data.length / 2)
      await stage.abandon(true)
      // The journal made the staging folder and the writer's folder, and the data moved in.
      const root = stagingDirFor(output)
      expect(await readdir(dir)).toEqual(['.f.bin.haul'])
      const [folder] = await readdir(root)
      expect(stage.dataPath).toBe(join(root, folder!, 'data'))
      expect((await readdir(join(root, folder!))).sort()).toEqual(['data', 'journal'])
    } finally {
      stage.leave()
    }
    const source = new MemorySource(data, { validator: '"v"' })
    const result = await runDownload([source], { output })
    expect(result.resumedFrom).toBe(data.length / 2)
    expect(await readdir(dir)).toEqual(['f.bin'])
    expect(await readFile(output)).toEqual(data)
  })

  it("beside the destination, of a holder SIGKILLed while staging, is listed, then removed by the next holder, which commits", async () => {
    const output = join(dir, 'f.bin')
    const data = testBytes(32 * 1024, 6)
    const name = '.f.bin.haul.0badcafe.part'
    const holder = spawnNode(LOCK_CHILD, [output, '--destination', `--partial=${name}`, '--hold'])
    await holder.waitForEvent('staged')
    expect(await listStaged(output)).toMatchObject([{ dir: join(dir, name), live: true, journal: undefined, bytesOnDisk: 0 }])
    holder.signal('SIGKILL')
    await holder.waitForExit()
    expect(await listStaged(output)).toMatchObject([{ dir: join(dir, name), live: false }])
    expect((await readdir(dir)).sort()).toEqual(['.f.bin.haul.0badcafe.part', '.haul.lock'])
    const source = new MemorySource(data)
    expect((await runDownload([source], { output })).resumedFrom).toBe(0)
    expect(await readdir(dir)).toEqual(['f.bin'])
    expect(await readFile(output)).toEqual(data)
    expect(await listStaged(output)).toEqual([])
  })

  it('of a live writer stays, listed with nothing to resume; once that writer is dead the next run removes it and resumes nothing from it', async () => {
    const output = join(dir, 'f.bin')
    const data = testBytes(256 * 1024, 3)
    const pid = await liveProcess()
    const name = lonePartialOf(pid)
    const lone = join(stagingDirFor(output), name)
    await mkdir(stagingDirFor(output))
    // Bytes that look like a good prefix: without a journal they must not be trusted.
    await writeFile(lone, data.subarray(0, 128 * 1024))
    expect(await listStaged(output)).toMatchObject([{ dir: lone, live: true, journal: undefined, bytesOnDisk: 0 }])

    const first = new MemorySource(data)
    const result = await runDownload([first], { output })
    expect(result.resumedFrom).toBe(0)
    expect(first.bytesServed).toBe(data.length)
    // Its writer lives: its file stays. The lock this run took is a byte of the folder's lock
    // file, gone with the last holder.
    expect((await readdir(stagingDirFor(output))).sort()).toEqual([name])
    expect((await readdir(dir)).sort()).toEqual(['.f.bin.haul', 'f.bin'])
    expect(await stat(lone)).toMatchObject({ size: 128 * 1024 })

    child!.kill('SIGKILL')
    await new Promise((resolve) => child!.once('exit', resolve))
    child = undefined
    expect(await listStaged(output)).toMatchObject([{ dir: lone, live: false }])
    await rm(output)
    const second = new MemorySource(data)
    expect((await runDownload([second], { output })).resumedFrom).toBe(0)
    expect(second.bytesServed).toBe(data.length)
    expect(await readdir(dir)).toEqual(['f.bin'])
    expect(await readFile(output)).toEqual(data)
  })
})
