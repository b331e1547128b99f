// The OFD lock: fcntl(F_OFD_SETLK/F_OFD_SETLKW) on the lock file through fs-native-extensions
// (flock on macOS, LockFileEx on Windows). The lock belongs to the open file description, so
// the kernel drops it when the holder's last descriptor closes, which includes any death.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fstatSync, readSync, statSync, type BigIntStats } from 'node:fs'
import { stat, unlink, type FileHandle } from 'node:fs/promises'
import { abortedError, fsError } from '../errors.js'
import { isGone } from '../fs-race.js'
import { callsFor } from '../stage/folder-calls.js'
import { HOST_RECORD_GRACE_MS, readHostRecord, writeHostRecord } from './host-record.js'
import type { DestinationLock, LockRequest, ReleaseOptions } from './lock.js'

/** The part of fs-native-extensions that haul uses. */
export interface NativeLockAddon {
  /** Takes an exclusive lock on the whole file, or returns false if another description has one. */
  tryLock(fd: number): boolean
  /** Blocks on a thread of its own until the lock is ours; it can't be cancelled. */
  waitForLock(fd: number): Promise<void>
  unlock(fd: number): void
  /** Takes a lock on `length` bytes at `offset` (0: to the end, and beyond), or returns false if another description holds a conflicting one. */
  tryLockRange(fd: number, offset: number, length: number, exclusive: boolean): boolean
  /** Waits on a thread of its own for that lock; it can't be cancelled. */
  waitForLockRange(fd: number, offset: number, length: number, exclusive: boolean): Promise<void>
  unlockRange(fd: number, offset: number, length: number): void
}

/** Records are a few hundred bytes; anything beyond this is not one of ours. */
const MAX_RECORD_BYTES = 64 * 1024

/** Errors meaning "this kernel or filesystem has no OFD locks" (EINVAL: kernel before 3.15). */
export const UNSUPPORTED = new Set(['EINVAL', 'ENOLCK', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS'])

let loaded: { addon: NativeLockAddon } | { error: unknown } | undefined

/**
 * Loads fs-native-extensions once, lazily: a missing or broken prebuilt must not break haul, it
 * only means the socket fallback is used.
 */
export function loadNativeLock(): { addon: NativeLockAddon } | { error: unknown } {
  if (loaded === undefined) {
    try {
      loaded = { addon: loadPrebuilt() ?? loadPackage() }
    } catch (error) {
      loaded = { error }
    }
  }
  return loaded
}

/** The calls of the compiled binding that haul makes (fcntl on Linux), as the package's prebuilt exports them. */
interface Binding {
  tryLock(fd: number, offset: number, length: number, exclusive: boolean): void
  waitForLock(fd: number, offset: number, length: number, exclusive: boolean, request: object, done: (this: WaitRequest, err: Error | null) => void): unknown
  unlock(fd: number, offset: number, length: number): void
}

interface WaitRequest {
  handle: unknown
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * The package's prebuilt binding for this platform, opened directly: the package's own loader
 * (require-addon, which resolves the prebuilt through a semver match of runtime versions) takes
 * ≈ 20 ms of every start, the binding itself ≈ 3. Undefined where the prebuilt is not where this
 * expects it (another version's layout, a platform without one): then the package loads it.
 * @internal Exported for tests.
 */
export function loadPrebuilt(): NativeLockAddon | undefined {
  let binding: Partial<Binding>
  try {
    const require = createRequire(import.meta.url)
    const dir = dirname(require.resolve('fs-native-extensions/package.json'))
    const module = { exports: {} as Partial<Binding> }
    process.dlopen(module, join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'fs-native-extensions.node'))
    binding = module.exports
  } catch {
    return undefined
  }
  const { tryLock, waitForLock, unlock } = binding
  if (typeof tryLock !== 'function' || typeof waitForLock !== 'function' || typeof unlock !== 'function') return undefined
  const tryLockRange = (fd: number, offset: number, length: number, exclusive: boolean): boolean => {
    try {
      tryLock.call(binding, fd, offset, length, exclusive)
      return true
    } catch (err) {
      if (errorCode(err) === 'EAGAIN') return false
      throw err
    }
  }
  const waitForLockRange = (fd: number, offset: number, length: number, exclusive: boolean): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const request: WaitRequest = { handle: null, resolve, reject }
      request.handle = waitForLock.call(binding, fd, offset, length, exclusive, request, function (this: WaitRequest, err) {
        if (err) this.reject(err)
        else this.resolve()
      })
    })
  const unlockRange = (fd: number, offset: number, length: number): void => unlock.call(binding, fd, offset, length)
  return {
    tryLock: (fd) => tryLockRange(fd, 0, 0, true),
    waitForLock: (fd) => waitForLockRange(fd, 0, 0, true),
    unlock: (fd) => unlockRange(fd, 0, 0),
    tryLockRange,
    waitForLockRange,
    unlockRange,
  }
}

/**
 * The package as it loads itself.
 * @internal Exported for tests.
 */
export function loadPackage(): NativeLockAddon {
  const addon = createRequire(import.meta.url)('fs-native-extensions') as Partial<PackageApi>
  const { tryLock, waitForLock, unlock } = addon
  if (typeof tryLock !== 'function' || typeof waitForLock !== 'function' || typeof unlock !== 'function') {
    throw new Error('fs-native-extensions lacks tryLock/waitForLock/unlock')
  }
  return {
    tryLock: (fd) => tryLock(fd),
    waitForLock: (fd) => waitForLock(fd),
    unlock: (fd) => unlock(fd),
    tryLockRange: (fd, offset, length, exclusive) => tryLock(fd, offset, length, { shared: !exclusive }),
    waitForLockRange: (fd, offset, length, exclusive) => waitForLock(fd, offset, length, { shared: !exclusive }),
    unlockRange: (fd, offset, length) => unlock(fd, offset, length),
  }
}

/** The package's own functions (index.js), which take a range and `{ shared }`. */
interface PackageApi {
  tryLock(fd: number, offset?: number, length?: number, opts?: { shared: boolean }): boolean
  waitForLock(fd: number, offset?: number, length?: number, opts?: { shared: boolean }): Promise<void>
  unlock(fd: number, offset?: number, length?: number): void
}

export function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * Races a kernel wait for a lock, which can't be cancelled, against `signal`. When the signal
 * fires first this resolves 'aborted' at once and the wait runs on: `abandoned` then gets what it
 * ended with (undefined if it failed) and must give back whatever lock it got and close the
 * descriptor, so none leaks and no lock stays held by nobody. The caller must not touch the
 * descriptor after 'aborted'.
 */
export function unlessAborted<T>(pending: Promise<T>, signal: AbortSignal | undefined, abandoned: (outcome: T | undefined) => Promise<void>): Promise<T | 'aborted'> {
  if (signal === undefined) return pending
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      resolve('aborted')
      pending.then(abandoned, () => abandoned(undefined)).catch(() => undefined)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    pending.then(
      (outcome) => {
        signal.removeEventListener('abort', onAbort)
        resolve(outcome)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/** Waits on the addon's thread for the whole lock file (see {@link unlessAborted}). */
function waitForLock(addon: NativeLockAddon, file: FileHandle, signal: AbortSignal | undefined): Promise<'locked' | 'aborted'> {
  return unlessAborted(
    addon.waitForLock(file.fd).then(() => 'locked' as const),
    signal,
    async (outcome) => {
      try {
        if (outcome === 'locked') addon.unlock(file.fd)
      } finally {
        await file.close()
      }
    },
  )
}

/**
 * The record a previous holder wrote into this inode before it let go, if any. Read from the
 * descriptor as far as it goes, not up to the size fstat reports: on a network folder fstat may
 * describe whatever the path names now (sshfs looks attributes up by path), which after another
 * host's clean-up is a new, empty lock file. An inode another host removed may refuse the read:
 * then there is none.
 */
async function readRecord(file: FileHandle, local: { size: bigint } | undefined): Promise<string | undefined> {
  let text = ''
  if (local !== undefined) {
    // Here fstat describes this very inode: an empty lock file (a new one, the common case) holds nothing.
    if (local.size === 0n) return undefined
    const buffer = Buffer.allocUnsafe(MAX_RECORD_BYTES)
    text = buffer.toString('utf8', 0, readSync(file.fd, buffer, 0, MAX_RECORD_BYTES, 0)).trimEnd()
  } else {
    const read = await file.read(Buffer.alloc(MAX_RECORD_BYTES), 0, MAX_RECORD_BYTES, 0).catch((err: unknown) => {
      if (isGone(err)) return undefined
      throw err
    })
    text = read === undefined ? '' : read.buffer.toString('utf8', 0, read.bytesRead).trimEnd()
  }
  return text === '' ? undefined : text
}

/**
 * The lock file's stat. On a local filesystem the calls that only read run synchronously, as the
 * staging folder's do (stage/folder-calls.ts): microseconds, where a trip through libuv's pool
 * costs the main thread two wake-ups; a small file's transaction makes three of them here.
 */
async function statOpen(file: FileHandle, network: boolean): Promise<BigIntStats> {
  return network ? file.stat({ bigint: true }) : fstatSync(file.fd, { bigint: true })
}

/** Records are written padded to a multiple of this, in one write (see {@link writeRecord}). */
const RECORD_BLOCK_BYTES = 4096

/**
 * Leaves `record` (or none) in the lock file for the waiters. One padded write, never a
 * truncate-then-write: where locks don't span hosts, a holder on another host may write its
 * record into the same inode while a waiter here reads, and between a truncate and a write that
 * waiter would find nothing and download again. JSON ignores the trailing spaces.
 */
async function writeRecord(file: FileHandle, record: string | undefined, known: { size: number | undefined }, network: boolean): Promise<void> {
  const size = known.size
  // Unknown until this write is done: one that fails half-way may leave the file any length.
  known.size = undefined
  if (record === undefined || record === '') {
    if (size !== 0) await file.truncate(0)
    known.size = 0
    return
  }
  const length = Math.ceil(Buffer.byteLength(record) / RECORD_BLOCK_BYTES) * RECORD_BLOCK_BYTES
  const block = Buffer.alloc(length, ' ')
  block.write(record, 0, 'utf8')
  // In the call on a local filesystem, as a staged file's writes (stage/folder-calls.ts).
  await callsFor(network).write(file, block, 0, length, 0)
  // A file known to be no longer than the block (a new lock file) has nothing to cut off.
  if (size === undefined || size > length) await file.truncate(length)
  known.size = length
}

/**
 * Whether `path` still names the inode open as `file` (a holder unlinks it before letting go; on
 * a shared folder, another host's holder may have unlinked it at any moment).
 */
export async function namesInode(path: string, ino: bigint, dev: bigint, network: boolean): Promise<boolean> {
  try {
    const current = network ? await stat(path, { bigint: true }) : statSync(path, { bigint: true })
    return current.ino === ino && current.dev === dev
  } catch (err) {
    if (isGone(err)) return false
    throw fsError(err, 'check the lock file', path)
  }
}

/**
 * Takes the OFD lock on `request.path`. A lock on an inode that the path no longer names is
 * worthless (the previous holder unlinked it on release; a newcomer creates a fresh file), so
 * after locking we compare inodes and start over on a mismatch, keeping the record the previous
 * holder left in the orphaned inode. Returns 'unsupported' when the kernel or filesystem refuses
 * OFD locks, having removed the lock file it created.
 */
export async function acquireOfdLock(addon: NativeLockAddon, request: LockRequest): Promise<DestinationLock | 'unsupported'> {
  const { path, signal } = request
  let handedOver: string | undefined
  let races = 0
  for (;;) {
    const file = await request.openLockFile()
    let keep = false // true once the lock is returned, or an aborted wait owns the handle
    let locked = false
    try {
      try {
        locked = addon.tryLock(file.fd)
      } catch (err) {
        if (UNSUPPORTED.has(errorCode(err) ?? '')) {
          await unlink(path).catch(() => undefined)
          return 'unsupported'
        }
        throw fsError(err, 'lock', path)
      }
      let waited = false
      if (!locked) {
        request.busy()
        request.waiting()
        request.throwIfAborted()
        let outcome: 'locked' | 'aborted' | 'interrupted'
        try {
          outcome = await waitForLock(addon, file, signal)
        } catch (err) {
          // EINTR: a signal handler without SA_RESTART cut the wait short; just wait again.
          if (errorCode(err) !== 'EINTR') throw fsError(err, 'wait for the lock on', path)
          outcome = 'interrupted'
        }
        if (outcome === 'aborted') {
          keep = true
          throw abortedError(signal)
        }
        waited = outcome === 'locked'
        locked = waited
      }
      // Waiting means a holder came and went: progress, not a race.
      races = waited ? 0 : races + 1
      if (locked) {
        request.throwIfAborted()
        // ENOENT/ESTALE: another host sharing the folder removed this lock file meanwhile (its
        // holder's clean-up); the lock on it is worthless, but the record in it still counts.
        const st = await statOpen(file, request.network).catch((err: unknown) => {
          if (isGone(err)) return undefined
          throw fsError(err, 'check the lock file', path)
        })
        const record = await readRecord(file, request.network ? undefined : st).catch((err: unknown) => {
          throw fsError(err, 'read the lock file', path)
        })
        // On a network folder, this host's copy comes first: it is the record of the holder
        // waited for, while the lock file may carry another host's, a cut-off one, or none
        // (another host replaced the file meanwhile: see host-record.ts).
        const copy = waited && request.network ? await readHostRecord(path, request.began - HOST_RECORD_GRACE_MS) : undefined
        if ((copy ?? record) !== undefined) handedOver = copy ?? record
        if (st !== undefined && (await namesInode(path, st.ino, st.dev, request.network))) {
          keep = true
          // This host's fstat tells the inode's size; another host may write into it meanwhile.
          return ofdLock(addon, file, path, st.ino, st.dev, handedOver, request.network, request.network ? undefined : Number(st.size))
        }
      }
      if (races > request.maxRaces) throw fsError(new Error('the lock file kept being replaced'), 'lock', path)
    } finally {
      if (!keep) {
        if (locked) addon.unlock(file.fd)
        await file.close()
      }
    }
    await request.lostRace(races)
  }
}

function ofdLock(addon: NativeLockAddon, file: FileHandle, path: string, ino: bigint, dev: bigint, handedOver: string | undefined, network: boolean, size: number | undefined): DestinationLock {
  let released = false
  // The lock file's size as this holder left it (undefined: not known), which spares a truncate.
  const known = { size }
  // The record in the lock file now (see note): release need not write it again.
  let noted: string | undefined
  return {
    path,
    kind: 'ofd',
    handedOver,
    async note(record: string): Promise<void> {
      if (released) return
      try {
        if (network) await writeHostRecord(path, record)
        await writeRecord(file, record, known, network)
        noted = record
      } catch {
        noted = undefined
      }
    },
    async release(record?: string, options: ReleaseOptions = {}): Promise<void> {
      if (released) return
      released = true
      try {
        // Before letting go, like the record in the lock file: this host's waiters read it once
        // they have the lock (written again even when noted: a copy counts only while recent).
        if (network) await writeHostRecord(path, record)
        // Waiters already hold a descriptor on this inode: they read the record from it once
        // they get the lock, even though the path is gone by then.
        if (record === undefined || record !== noted) await writeRecord(file, record, known, network)
        // Unlinked while still locked, so nobody can lock this path's inode and then lose it.
        // Through the pool, like the staging folder's unlinks (folder-calls.ts): a lock file with a
        // dirty block costs the call ~100 µs, and the crash harness counts a syscall per thread.
        if (options.keepFile !== true && (await namesInode(path, ino, dev, network))) await unlink(path)
      } catch (err) {
        // Another host sharing the folder removed it first (its holder tidied up): nothing left to do.
        if (!isGone(err)) throw fsError(err, 'remove the lock file', path)
      } finally {
        addon.unlock(file.fd)
        await file.close()
      }
    },
  }
}
