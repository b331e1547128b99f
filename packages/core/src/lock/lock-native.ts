// The OFD lock: fcntl(F_OFD_SETLK/F_OFD_SETLKW) on the lock file through fs-native-extensions
// (flock on macOS, LockFileEx on Windows). The lock belongs to the open file description, so
// the kernel drops it when the holder's last descriptor closes, which includes any death.
import { createRequire } from 'node:module'
import { stat, unlink, type FileHandle } from 'node:fs/promises'
import { abortedError, fsError } from '../errors.js'
import { isGone } from '../fs-race.js'
import { HOST_RECORD_GRACE_MS, readHostRecord, writeHostRecord } from './host-record.js'
import type { DestinationLock, LockRequest, ReleaseOptions } from './lock.js'

/** The part of fs-native-extensions that haul uses. */
export interface NativeLockAddon {
  /** Takes an exclusive lock on the whole file, or returns false if another description has one. */
  tryLock(fd: number): boolean
  /** Blocks on a thread of its own until the lock is ours; it can't be cancelled. */
  waitForLock(fd: number): Promise<void>
  unlock(fd: number): void
}

/** Records are a few hundred bytes; anything beyond this is not one of ours. */
const MAX_RECORD_BYTES = 64 * 1024

/** Errors meaning "this kernel or filesystem has no OFD locks" (EINVAL: kernel before 3.15). */
const UNSUPPORTED = new Set(['EINVAL', 'ENOLCK', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS'])

let loaded: { addon: NativeLockAddon } | { error: unknown } | undefined

/**
 * Loads fs-native-extensions once, lazily: a missing or broken prebuilt must not break haul, it
 * only means the socket fallback is used.
 */
export function loadNativeLock(): { addon: NativeLockAddon } | { error: unknown } {
  if (loaded === undefined) {
    try {
      const addon = createRequire(import.meta.url)('fs-native-extensions') as Partial<NativeLockAddon>
      const { tryLock, waitForLock, unlock } = addon
      if (typeof tryLock !== 'function' || typeof waitForLock !== 'function' || typeof unlock !== 'function') {
        throw new Error('fs-native-extensions lacks tryLock/waitForLock/unlock')
      }
      loaded = { addon: { tryLock, waitForLock, unlock } }
    } catch (error) {
      loaded = { error }
    }
  }
  return loaded
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * Waits on the addon's thread. Resolves 'aborted' when the signal fires first: the wait keeps
 * running (it can't be cancelled) and from then on owns `file`: when it ends it unlocks and
 * closes, so no descriptor leaks and no lock stays held by nobody. The caller must not touch
 * `file` after 'aborted'.
 */
function waitForLock(addon: NativeLockAddon, file: FileHandle, signal: AbortSignal | undefined): Promise<'locked' | 'aborted'> {
  const pending = addon.waitForLock(file.fd)
  if (signal === undefined) return pending.then(() => 'locked')
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      resolve('aborted')
      pending
        .then(() => addon.unlock(file.fd), () => undefined)
        .finally(() => file.close())
        .catch(() => undefined)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    pending.then(
      () => {
        signal.removeEventListener('abort', onAbort)
        resolve('locked')
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/**
 * The record a previous holder wrote into this inode before it let go, if any. Read from the
 * descriptor as far as it goes, not up to the size fstat reports: on a network folder fstat may
 * describe whatever the path names now (sshfs looks attributes up by path), which after another
 * host's clean-up is a new, empty lock file. An inode another host removed may refuse the read:
 * then there is none.
 */
async function readRecord(file: FileHandle): Promise<string | undefined> {
  const read = await file.read(Buffer.alloc(MAX_RECORD_BYTES), 0, MAX_RECORD_BYTES, 0).catch((err: unknown) => {
    if (isGone(err)) return undefined
    throw err
  })
  const text = read === undefined ? '' : read.buffer.toString('utf8', 0, read.bytesRead).trimEnd()
  return text === '' ? undefined : text
}

/** Records are written padded to a multiple of this, in one write (see {@link writeRecord}). */
const RECORD_BLOCK_BYTES = 4096

/**
 * Leaves `record` (or none) in the lock file for the waiters. One padded write, never a
 * truncate-then-write: where locks don't span hosts, a holder on another host may write its
 * record into the same inode while a waiter here reads, and between a truncate and a write that
 * waiter would find nothing and download again. JSON ignores the trailing spaces.
 */
async function writeRecord(file: FileHandle, record: string | undefined): Promise<void> {
  if (record === undefined || record === '') return void (await file.truncate(0))
  const length = Math.ceil(Buffer.byteLength(record) / RECORD_BLOCK_BYTES) * RECORD_BLOCK_BYTES
  const block = Buffer.alloc(length, ' ')
  block.write(record, 0, 'utf8')
  await file.write(block, 0, length, 0)
  await file.truncate(length)
}

/**
 * Whether `path` still names the inode open as `file` (a holder unlinks it before letting go; on
 * a shared folder, another host's holder may have unlinked it at any moment).
 */
async function namesInode(path: string, ino: bigint, dev: bigint): Promise<boolean> {
  try {
    const current = await stat(path, { bigint: true })
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
        const st = await file.stat({ bigint: true }).catch((err: unknown) => {
          if (isGone(err)) return undefined
          throw fsError(err, 'check the lock file', path)
        })
        const record = await readRecord(file).catch((err: unknown) => {
          throw fsError(err, 'read the lock file', path)
        })
        // On a network folder, this host's copy comes first: it is the record of the holder
        // waited for, while the lock file may carry another host's, a cut-off one, or none
        // (another host replaced the file meanwhile: see host-record.ts).
        const copy = waited && request.network ? await readHostRecord(path, request.began - HOST_RECORD_GRACE_MS) : undefined
        if ((copy ?? record) !== undefined) handedOver = copy ?? record
        if (st !== undefined && (await namesInode(path, st.ino, st.dev))) {
          keep = true
          return ofdLock(addon, file, path, st.ino, st.dev, handedOver, request.network)
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

function ofdLock(addon: NativeLockAddon, file: FileHandle, path: string, ino: bigint, dev: bigint, handedOver: string | undefined, network: boolean): DestinationLock {
  let released = false
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
        await writeRecord(file, record)
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
        if (record === undefined || record !== noted) await writeRecord(file, record)
        // Unlinked while still locked, so nobody can lock this path's inode and then lose it.
        if (options.keepFile !== true && (await namesInode(path, ino, dev))) await unlink(path)
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
