// Random kills, injected I/O errors and real filesystems (another mount, a full disk, a read-only
// folder) at the CLI, bounded for `pnpm test`; see crash-harness.ts.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnNode } from '@haul/testkit'
import { bin, closeScenarios, httpScenario, ipfsScenario, MiB, mountTmpfs, runRandomKill, runTrial, straceAvailable, trials, violations, type Scenario } from './crash-harness.js'

const strace = straceAvailable()
if (!strace.ok) console.warn(`crash-fs: skipping the strace trials: ${strace.reason}`)

const SIZE = 8 * MiB
const OLD = Buffer.from('the previous version of the file\n')

let scenarios: Scenario[] = []
beforeAll(async () => {
  scenarios = [await httpScenario(SIZE, 1)]
})
afterAll(() => closeScenarios(scenarios))

describe('SIGKILL at random moments (no tracer)', () => {
  it('leaves the old file or the whole new one, and the next run resumes within the bound', async () => {
    const paced = [await httpScenario(SIZE, 1, 12 * MiB), await httpScenario(SIZE, 4, 12 * MiB), await ipfsScenario(SIZE, 12 * MiB)]
    try {
      const broken: string[] = []
      for (const scenario of paced) {
        for (const previous of [undefined, OLD]) {
          const fraction = 0.05 + Math.random() * 0.9
          const result = await runRandomKill(scenario, fraction, previous === undefined ? {} : { previous })
          trials.push(result)
          broken.push(...violations(result, undefined, scenario.connections).map((v) => `${scenario.name} ${result.fault}: ${v}`))
        }
      }
      expect(broken).toEqual([])
    } finally {
      await Promise.all(paced.map((s) => s.close()))
    }
  }, 120_000)
})

describe.skipIf(!strace.ok)('a kill after the commit rename, before the clean-up', () => {
  // The dead writer's directory then holds a journal but no data (it became the destination), and
  // the lock file holds the record the commit noted before its rename. The next run must not adopt
  // that directory and fail on the missing data, nor leave it behind; and it must recognise the
  // file from the record (digest or not) instead of downloading it again.
  for (const make of [() => ipfsScenario(SIZE), () => httpScenario(SIZE, 1, undefined, false), () => httpScenario(SIZE, 1)]) {
    it('does not block the next run, which finds the file there, fetches nothing and leaves only the file', async () => {
      const scenario = await make()
      try {
        const result = await runTrial(scenario, { syscall: 'unlink', k: 1, action: 'KILL' })
        trials.push(result)
        expect(result.target).toMatch(/journal$/)
        expect(result.destination).toBe('new')
        expect({ scenario: scenario.name, exit: result.resumeExit?.code, message: result.resumeMessage, leftovers: result.leftovers }).toEqual({ scenario: scenario.name, exit: 0, message: undefined, leftovers: [] })
        expect({ resumedFrom: result.resumedFrom, fetchedAgain: result.resumeExcessBytes }).toEqual({ resumedFrom: SIZE, fetchedAgain: 0 })
      } finally {
        await scenario.close()
      }
    }, 60_000)
  }
})

describe.skipIf(!strace.ok)('injected I/O errors (strace inject=…:error=)', () => {
  const cases: Array<[string, number, 'EIO' | 'ENOSPC' | 'EACCES', number]> = [
    ['pwrite64', 2, 'EIO', 6],
    ['pwrite64', 3, 'ENOSPC', 5],
    ['fsync', 1, 'EIO', 6],
    ['rename', 1, 'EIO', 6], // the lone partial's move into the writer's folder, before the journal's first write
    ['rename', 2, 'EIO', 6], // the commit's
    ['openat', 1, 'EACCES', 6],
  ]
  for (const [syscall, k, error, exit] of cases) {
    it(`${error} on ${syscall} call ${k} exits ${exit} with a clear message and leaves the old file`, async () => {
      const scenario = scenarios[0]!
      const result = await runTrial(scenario, { syscall, k, action: error }, { previous: OLD })
      trials.push(result)
      expect(result.fired).toBe(true)
      expect(result.exit.code).toBe(exit)
      expect(result.errorCode).toBe(exit === 5 ? 'HAUL_NO_SPACE' : 'HAUL_IO')
      expect(result.message).toMatch(error === 'ENOSPC' ? /No space left/ : new RegExp(error))
      expect(result.destination).toBe('previous')
      if (syscall === 'fsync' || syscall === 'rename') expect(result.stageKept).toBe(false) // never retried
      if (error === 'ENOSPC') expect(result.stageKept).toBe(true) // the partial is kept
      expect(violations(result, { syscall, k, action: error }, 1)).toEqual([])
    }, 60_000)
  }
})

describe('real filesystems at the CLI', () => {
  it('stages beside a destination on another mount, and a kill there loses nothing of the old file', async () => {
    const mount = await mountTmpfs('size=64m')
    if ('skip' in mount) return void console.warn(`skipped: ${mount.skip}`)
    try {
      const scenario = scenarios[0]!
      const result = strace.ok
        ? await runTrial(scenario, { syscall: 'pwrite64', k: 4, action: 'KILL' }, { base: mount.path, previous: OLD })
        : await runRandomKill(scenario, 0.5, { base: mount.path, previous: OLD })
      trials.push(result)
      expect(violations(result, undefined, 1)).toEqual([])
      expect(result.destination).toBe('previous')
      expect(result.resumeExit?.code).toBe(0)
    } finally {
      await mount.unmount()
    }
  }, 60_000)

  it('a disk too small fails the preflight with exit 5 before any body byte', async () => {
    const mount = await mountTmpfs('size=4m')
    if ('skip' in mount) return void console.warn(`skipped: ${mount.skip}`)
    try {
      const scenario = scenarios[0]!
      const before = scenario.bytesSent()
      const child = spawnNode(bin, scenario.argv(join(mount.path, 'out.bin')), { cwd: mount.path })
      expect((await child.waitForExit()).code).toBe(5)
      expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_NO_SPACE' })
      // Nothing was written; the origin sent only what was in flight when the size was learned.
      expect(await readdir(mount.path)).toEqual([])
      expect(scenario.bytesSent() - before).toBeLessThan(SIZE)
    } finally {
      await mount.unmount()
    }
  }, 60_000)

  it('a disk that fills up during the download exits 5, keeps the partial, and resumes once space is freed', async () => {
    const mount = await mountTmpfs('size=20m')
    if ('skip' in mount) return void console.warn(`skipped: ${mount.skip}`)
    const paced = await httpScenario(SIZE, 1, 8 * MiB)
    try {
      const dest = join(mount.path, 'out.bin')
      const filler = join(mount.path, 'filler')
      const child = spawnNode(bin, paced.argv(dest), { cwd: mount.path })
      await child.waitForEvent((e) => e.event === 'progress' && typeof e.bytes === 'number' && e.bytes > 2 * MiB)
      // Take the rest of the disk: the next writes of haul fail with ENOSPC.
      await writeFile(filler, Buffer.alloc(20 * MiB)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err
      })
      expect((await child.waitForExit()).code).toBe(5)
      expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_NO_SPACE' })
      expect(child.events.at(-1)?.message).toMatch(/free some space/)
      expect(existsSync(dest)).toBe(false)
      await rm(filler)
      const again = spawnNode(bin, paced.argv(dest), { cwd: mount.path })
      expect((await again.waitForExit()).code).toBe(0)
      const start = again.events.find((e) => e.event === 'start')
      expect(start?.resumedFrom).toBeGreaterThan(0)
      expect((await readFile(dest)).equals(paced.content)).toBe(true)
      expect(await readdir(mount.path)).toEqual(['out.bin'])
    } finally {
      await paced.close()
      await mount.unmount()
    }
  }, 60_000)

  it('a read-only folder exits 6 with a message naming the path, before any request', async () => {
    const mount = await mountTmpfs('size=4m')
    if ('skip' in mount) return void console.warn(`skipped: ${mount.skip}`)
    try {
      await mkdir(join(mount.path, 'sub'))
      await writeFile(join(mount.path, 'sub', 'out.bin'), OLD)
      execFileSync('mount', ['-o', 'remount,ro', mount.path])
      const scenario = scenarios[0]!
      const requests = (scenario as { origin?: { requests: number } }).origin?.requests
      const child = spawnNode(bin, scenario.argv(join(mount.path, 'sub', 'out.bin')), { cwd: mount.path })
      expect((await child.waitForExit()).code).toBe(6)
      expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_IO' })
      expect(String(child.events.at(-1)?.message)).toMatch(/read-only file system/i)
      expect(String(child.events.at(-1)?.message)).toContain(join(mount.path, 'sub'))
      expect((scenario as { origin?: { requests: number } }).origin?.requests).toBe(requests)
      expect(await readFile(join(mount.path, 'sub', 'out.bin'))).toEqual(OLD)
    } finally {
      await mount.unmount()
    }
  }, 60_000)
})
