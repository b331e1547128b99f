// The lock is only meaningful between processes, so these tests run real children
// (fixtures/lock-child.mjs, which imports the built package: run `pnpm build` first) and
// synchronise on the JSON lines they print. Each case runs for both lock kinds, and for the
// folder lock a download takes on a local filesystem (a byte of the folder's `.haul.lock`).
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { killChildren, spawnNode, type ChildEvent, type SpawnedChild } from '@haul/testkit'
import { isHaulError } from '../src/errors.js'
import { releaseDestination } from '../src/stage/stage.js'
import { acquireDestinationLock, acquireLock, acquireLock as acquireKind, type DestinationLock, type LockKind, type LockOptions } from '../src/lock/lock.js'

const fixture = fileURLToPath(new URL('./fixtures/lock-child.mjs', import.meta.url))
const now = (): number => performance.timeOrigin + performance.now()

interface LockEvent extends ChildEvent {
  event: string
  pid: number
  /** Wall-clock time in the child, in ms with sub-ms precision. */
  t: number
  kind?: string
  handedOver?: string | null
  code?: string
  message?: string
  path?: string
  elapsedMs?: number
  fds?: number
}

/**
 * Checks that every "enter PID" line in the log is followed by "exit PID" of the same process
 * (no one entered while another held the lock) and returns the holders' pids, sorted.
 */
async function holdersInLog(log: string): Promise<string[]> {
  const lines = (await readFile(log, 'utf8')).trimEnd().split('\n')
  expect(lines.length % 2).toBe(0)
  const holders: string[] = []
  for (let i = 0; i < lines.length; i += 2) {
    const pid = lines[i]?.replace(/^enter /, '') ?? ''
    expect(lines[i]).toBe(`enter ${pid}`)
    expect(lines[i + 1], `another process entered while ${pid} held the lock`).toBe(`exit ${pid}`)
    holders.push(pid)
  }
  return holders.sort()
}

let dir = ''

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-lock-'))
})

afterEach(async () => {
  await killChildren()
  await rm(dir, { recursive: true, force: true })
})

describe.each([
  { kind: 'ofd', env: { HAUL_LOCK: undefined }, layout: 'file' },
  { kind: 'socket', env: { HAUL_LOCK: 'socket' }, layout: 'file' },
  { kind: 'ofd', env: { HAUL_LOCK: undefined }, layout: 'folder' },
] as const)('acquireLock across processes ($kind, $layout)', ({ kind, env, layout }) => {
  const folder = (): string => join(dir, 'dest')
  // In the folder layout the path is the destination's, and the lock file is its folder's.
  const lockPath = (): string => join(folder(), 'file.bin.lock')
  const lockFileOf = (path: string): string => (layout === 'folder' ? join(dirname(path), '.haul.lock') : path)
  const child = (path: string, ...flags: string[]): SpawnedChild => spawnNode(fixture, [path, ...flags, ...(layout === 'folder' ? ['--destination'] : [])], { env: { ...env } })
  const event = (c: SpawnedChild, name: string | ((e: LockEvent) => boolean)): Promise<LockEvent> =>
    c.waitForEvent<LockEvent>(typeof name === 'string' ? name : (e) => name(e as LockEvent))
  const printed = (c: SpawnedChild, name: string): boolean => c.events.some((e) => e.event === name)

  /** A child that holds the lock until it reads "release" on stdin. */
  async function holder(...flags: string[]): Promise<SpawnedChild> {
    const c = child(lockPath(), '--hold', ...flags)
    expect((await event(c, 'acquired')).kind).toBe(kind)
    return c
  }

  /** A child that has told (through onWait) that it waits for the lock. */
  async function waiter(...flags: string[]): Promise<SpawnedChild> {
    const c = child(lockPath(), ...flags)
    await event(c, 'wait')
    return c
  }

  it('lets exactly one of 8 contending processes hold the lock at a time, and each one gets it', async () => {
    const log = join(dir, 'log')
    const children = Array.from({ length: 8 }, () => child(lockPath(), '--go', `--log=${log}`, '--work-ms=75'))
    await Promise.all(children.map((c) => event(c, 'ready')))
    for (const c of children) c.send('go')

    const exits = await Promise.all(children.map((c) => c.waitForExit({ timeoutMs: 30_000 })))
    expect(exits).toEqual(children.map(() => ({ code: 0, signal: null })))
    expect(await holdersInLog(log)).toEqual(children.map((c) => String(c.pid)).sort())
    expect(children.filter((c) => printed(c, 'wait')).length, 'the children did contend').toBeGreaterThan(0)
    for (const c of children) expect((await event(c, 'acquired')).kind).toBe(kind)
    expect(await readdir(folder())).toEqual([])
  })

  it('stays exclusive while lock files and their folder are removed and re-created under contention', async () => {
    const log = join(dir, 'log')
    const rounds = 25
    const children = Array.from({ length: 4 }, () => child(lockPath(), '--go', `--log=${log}`, '--work-ms=2', `--rounds=${rounds}`, '--rmdir'))
    await Promise.all(children.map((c) => event(c, 'ready')))
    for (const c of children) c.send('go')

    const exits = await Promise.all(children.map((c) => c.waitForExit({ timeoutMs: 30_000 })))
    expect(exits).toEqual(children.map(() => ({ code: 0, signal: null })))
    expect(await holdersInLog(log)).toEqual(children.flatMap((c) => Array.from({ length: rounds }, () => String(c.pid))).sort())
    await expect(readdir(folder()), 'the last one out removed the folder').rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('hands the lock to a waiting process within milliseconds when the holder is SIGKILLed', async () => {
    const takeovers: number[] = []
    for (let round = 0; round < 5; round++) {
      const held = await holder()
      const next = await waiter()
      const killedAt = now()
      held.signal('SIGKILL')
      const acquired = await event(next, 'acquired')
      takeovers.push(acquired.t - killedAt)
      expect(await held.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' })
      expect(acquired.handedOver).toBeNull()
      expect(await next.waitForExit()).toEqual({ code: 0, signal: null })
    }
    const sorted = [...takeovers].sort((a, b) => a - b)
    console.log(`[lock ${kind}] takeover after SIGKILL (kill → waiter acquired), 5 rounds: ${takeovers.map((ms) => ms.toFixed(2)).join(', ')} ms; median ${sorted[2]?.toFixed(2)} ms`)
    expect(sorted[2]).toBeLessThan(500)
    // The killed holder's lock file was removed by the next holder's release.
    expect(await readdir(folder())).toEqual([])
  })

  it('hands what a holder noted before it was SIGKILLed to its waiter and to a process that comes later (ofd; the socket lock hands nothing)', async () => {
    const record = JSON.stringify({ source: 'https://example.test/f', ino: 7 })
    const held = await holder(`--note=${record}`)
    await event(held, 'noted')
    const next = await waiter()
    held.signal('SIGKILL')
    expect(await held.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' })
    const expected = kind === 'ofd' ? record : null
    expect((await event(next, 'acquired')).handedOver).toBe(expected)
    expect(await next.waitForExit()).toEqual({ code: 0, signal: null })
    // A holder that noted a record and then released with none (its commit failed) hands its waiter none.
    const failed = await holder(`--note=${record}`)
    await event(failed, 'noted')
    const behind = await waiter()
    failed.send('release')
    expect(await failed.waitForExit()).toEqual({ code: 0, signal: null })
    expect((await event(behind, 'acquired')).handedOver).toBeNull()
    expect(await behind.waitForExit()).toEqual({ code: 0, signal: null })
    // Killed again after noting, with nobody waiting: the lock file stays, and the next process to come reads the note from it.
    const killed = await holder(`--note=${record}`)
    await event(killed, 'noted')
    killed.signal('SIGKILL')
    await killed.waitForExit()
    const later = child(lockPath())
    expect((await event(later, 'acquired')).handedOver).toBe(expected)
    expect(await later.waitForExit()).toEqual({ code: 0, signal: null })
  })

  it('keeps the lock with a SIGSTOPped holder for as long as it is stopped, then hands it over on release', async () => {
    const held = await holder('--record=after-stop')
    const next = await waiter()
    held.signal('SIGSTOP')
    // A process arriving while the holder is stopped still says that it waits.
    const late = await waiter()
    // The stop's duration is what is under test: no timeout or staleness rule may kick in.
    await sleep(3000)
    const probe = child(lockPath(), '--no-wait')
    expect((await event(probe, 'error')).code).toBe('HAUL_LOCK_BUSY')
    for (const w of [next, late]) {
      expect(printed(w, 'acquired'), 'a waiter took the lock from a stopped holder').toBe(false)
      expect(w.exitStatus).toBeUndefined()
    }

    held.signal('SIGCONT')
    held.send('release')
    for (const w of [next, late]) expect((await event(w, 'acquired')).handedOver).toBe('after-stop')
    expect(await Promise.all([held, next, late].map((c) => c.waitForExit()))).toEqual([0, 1, 2].map(() => ({ code: 0, signal: null })))
    expect(await readdir(folder())).toEqual([])
  })

  it('fails fast with HAUL_LOCK_BUSY under noWait while another process holds the lock', async () => {
    const held = await holder()
    const busy = child(lockPath(), '--no-wait')
    const error = await event(busy, 'error')
    expect(error.code).toBe('HAUL_LOCK_BUSY')
    expect(error.path).toBe(lockFileOf(lockPath()))
    expect(error.message).toContain(lockFileOf(lockPath()))
    expect(error.message).toContain('another haul process')
    expect(error.elapsedMs).toBeLessThan(500)
    expect(printed(busy, 'wait')).toBe(false)
    expect(await busy.waitForExit()).toEqual({ code: 3, signal: null })
    held.send('release')
    expect(await held.waitForExit()).toEqual({ code: 0, signal: null })
  })

  it('stops waiting with HAUL_ABORTED on abort, leaks no descriptor, and acquires again later', async () => {
    const held = await holder('--record=R')
    const next = child(lockPath(), '--abortable')
    const ready = await event(next, 'ready')
    await event(next, 'wait')
    next.send('abort')
    const aborted = await event(next, 'error')
    expect(aborted.code).toBe('HAUL_ABORTED')

    next.send('retry')
    await event(next, (e) => e.event === 'wait' && e.t > aborted.t)
    held.send('release')
    const acquired = await event(next, 'acquired')
    expect(acquired.handedOver).toBe('R')
    // 'exit' comes from beforeExit: the event loop drained by itself (with OFD, the cancelled
    // wait's thread finished and gave its descriptor back).
    const exit = await event(next, 'exit')
    expect(exit.fds).toBe(ready.fds)
    expect(await next.waitForExit()).toEqual({ code: 0, signal: null })
    expect(await readdir(folder())).toEqual([])
  })

  it('hands the release record to every waiter and leaves nothing in the folder', async () => {
    const record = JSON.stringify({ source: 'https://example.test/f', sha256: 'ab'.repeat(32), ino: 42, size: 7 })
    const held = await holder(`--record=${record}`)
    const waiters = await Promise.all([waiter(), waiter(), waiter()])
    held.send('release')
    for (const w of waiters) expect((await event(w, 'acquired')).handedOver).toBe(record)
    expect(await Promise.all([held, ...waiters].map((c) => c.waitForExit()))).toEqual([0, 1, 2, 3].map(() => ({ code: 0, signal: null })))
    expect(await readdir(folder())).toEqual([])
  })

  it('fails with HAUL_IO when the lock file or its folder cannot be created (read-only filesystem)', async (ctx) => {
    // chmod 0555 does not stop root; a read-only mount stops everyone.
    const readOnly = join(dir, 'ro')
    await mkdir(readOnly)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', readOnly], { stdio: 'pipe' })
    } catch (err) {
      ctx.skip(`cannot mount a read-only tmpfs here (needs root or CAP_SYS_ADMIN): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    }
    try {
      for (const path of [join(readOnly, 'file.lock'), join(readOnly, 'sub', 'file.lock')]) {
        const c = child(path)
        const error = await event(c, 'error')
        expect(error.code, error.message).toBe('HAUL_IO')
        expect(error.path).toBe(lockFileOf(path))
        expect(error.message).toContain('read-only file system')
        expect(await c.waitForExit()).toEqual({ code: 3, signal: null })
      }
    } finally {
      execFileSync('umount', [readOnly])
    }
  })
})

describe.each(['ofd', 'socket', 'folder'] as const)('acquireLock within one process (%s)', (layout) => {
  // 'ofd' is what the automatic choice picks where the addon loads; 'socket' is forced; 'folder'
  // is a destination's lock in its folder's lock file.
  const kind = layout === 'socket' ? 'socket' : 'ofd'
  const acquireLock = (path: string, options: LockOptions = {}): Promise<DestinationLock> =>
    layout === 'folder' ? acquireDestinationLock(path, options) : acquireKind(path, { ...options, kind: kind === 'socket' ? 'socket' : 'auto' })
  const lockFileOf = (path: string): string => (layout === 'folder' ? join(dirname(path), '.haul.lock') : path)

  it('makes a second acquire in the same process wait for the first release (the lock is not per process)', async () => {
    const path = join(dir, 'a', 'b', 'file.lock')
    const first = await acquireLock(path)
    expect(first.kind).toBe(kind)
    let waits = 0
    let reportWait = (): void => undefined
    const waiting = new Promise<void>((resolve) => (reportWait = resolve))
    const second = acquireLock(path, {
      onWait: () => {
        waits++
        reportWait()
      },
    })
    await waiting
    await expect(acquireLock(path, { noWait: true })).rejects.toMatchObject({ code: 'HAUL_LOCK_BUSY', path: lockFileOf(path) })
    await first.release('done')
    const lock = await second
    expect(waits).toBe(1)
    expect(lock.handedOver).toBe('done')
    await lock.release()
    await lock.release() // idempotent
    expect(await readdir(join(dir, 'a', 'b'))).toEqual([])
  })

  it('rejects at once with HAUL_ABORTED when the signal has already fired', async () => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    const error: unknown = await acquireLock(join(dir, 'file.lock'), { signal: controller.signal }).catch((err: unknown) => err)
    expect(isHaulError(error, 'HAUL_ABORTED')).toBe(true)
  })
})

describe('the folder lock (a destination on a local filesystem)', () => {
  const destinationChild = (path: string, ...flags: string[]): SpawnedChild => spawnNode(fixture, [path, '--destination', ...flags])

  it("locks each destination alone: another one of the folder is free while one is held, and the folder's lock file goes with the last holder", async () => {
    const folder = join(dir, 'dest')
    const [a, b] = [join(folder, 'a.bin'), join(folder, 'b.bin')]
    const holdA = destinationChild(a, '--hold')
    expect((await holdA.waitForEvent<LockEvent>('acquired')).kind).toBe('ofd')
    const onB = destinationChild(b, '--no-wait')
    expect(await onB.waitForExit()).toEqual({ code: 0, signal: null })
    // B's holder found A's byte held and left the file: A's lock is in it.
    expect(await readdir(folder)).toEqual(['.haul.lock'])
    const probe = destinationChild(a, '--no-wait')
    expect((await probe.waitForEvent<LockEvent>('error')).code).toBe('HAUL_LOCK_BUSY')
    await probe.waitForExit()
    holdA.send('release')
    expect(await holdA.waitForExit()).toEqual({ code: 0, signal: null })
    expect(await readdir(folder)).toEqual([])
  })

  it('stays exclusive per destination while 6 processes take 3 destinations of one folder in turns and the lock file comes and goes', async () => {
    const folder = join(dir, 'dest')
    const names = ['a.bin', 'b.bin', 'c.bin']
    const rounds = 20
    const children = Array.from({ length: 6 }, (_, i) => destinationChild(join(folder, names[i % 3]!), '--go', `--log=${join(dir, `log-${i % 3}`)}`, '--work-ms=2', `--rounds=${rounds}`))
    await Promise.all(children.map((c) => c.waitForEvent('ready')))
    for (const c of children) c.send('go')
    expect(await Promise.all(children.map((c) => c.waitForExit({ timeoutMs: 30_000 })))).toEqual(children.map(() => ({ code: 0, signal: null })))
    for (const [n] of names.entries()) {
      const pids = children.filter((_, i) => i % 3 === n).flatMap((c) => Array.from({ length: rounds }, () => String(c.pid)))
      expect(await holdersInLog(join(dir, `log-${n}`))).toEqual(pids.sort())
    }
    expect(await readdir(folder)).toEqual([])
  })

  it("locks the per-destination way where the folder's lock file may not be opened for writing (another user's)", async (ctx) => {
    // An immutable file refuses a write open even to root (EPERM), as another user's 0644 lock
    // file refuses this user (EACCES): both take the same path.
    const folder = join(dir, 'shared')
    await mkdir(folder)
    const lockFile = join(folder, '.haul.lock')
    await writeFile(lockFile, '')
    try {
      execFileSync('chattr', ['+i', lockFile], { stdio: 'pipe' })
    } catch (err) {
      ctx.skip(`cannot make the lock file immutable here (chattr, on this filesystem): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    }
    try {
      const lock = await acquireDestinationLock(join(folder, 'b.bin'))
      expect(lock.folderLock).toBeUndefined()
      expect(lock).toMatchObject({ kind: 'ofd', path: join(folder, '.b.bin.haul', 'lock') })
      await releaseDestination(lock, join(folder, 'b.bin'))
    } finally {
      execFileSync('chattr', ['-i', lockFile])
    }
    expect(await readdir(folder)).toEqual(['.haul.lock'])
  })

  it('locks the per-destination way on a network filesystem, and for a destination named like the lock file', async () => {
    const network = await acquireDestinationLock(join(dir, 'f.bin'), { network: true })
    expect(network.folderLock).toBeUndefined()
    expect(network.path).toBe(join(dir, '.f.bin.haul', 'lock'))
    await releaseDestination(network, join(dir, 'f.bin'))
    const named = await acquireDestinationLock(join(dir, '.haul.lock'))
    expect(named.folderLock).toBeUndefined()
    expect(named.path).toBe(join(dir, '..haul.lock.haul', 'lock'))
    await releaseDestination(named, join(dir, '.haul.lock'))
    const local = await acquireDestinationLock(join(dir, 'f.bin'))
    expect(local).toMatchObject({ folderLock: true, path: join(dir, '.haul.lock'), kind: 'ofd' })
    await releaseDestination(local, join(dir, 'f.bin'))
    expect(await readdir(dir)).toEqual([])
  })
})

describe('the lock kind', () => {
  it('rejects an unknown lock kind with HAUL_USAGE', async () => {
    await expect(acquireLock(join(dir, 'file.lock'), { kind: 'flock' as LockKind })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
  })
})
