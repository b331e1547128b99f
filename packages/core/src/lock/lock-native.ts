// The OFD lock: fcntl(F_OFD_SETLK/F_OFD_SETLKW) on the lock file through fs-native-extensions
// (flock on macOS, LockFileEx on Windows). The lock belongs to the open file description, so
// the kernel drops it when the holder's last descriptor closes, which includes any death.
import { createRequire } from 'node:module'
import { stat, unlink, type FileHandle } from 'node:fs/promises'
import { abortedError, fsError } from '../errors.js'
import type { DestinationLock, LockRequest } from './lock.js'

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

/** The record a previous holder wrote into this inode before it let go, if any. */
async function readRecord(file: FileHandle, size: number): Promise<string | undefined> {
  if (size === 0) return undefined
  const length = Math.min(size, MAX_RECORD_BYTES)
  const { bytesRead, buffer } = await file.read(Buffer.alloc(length), 0, length, 0)
  return bytesRead === 0 ? undefined : buffer.toString('utf8', 0, bytesRead)
}

/** Whether `path` still names the inode open as `file` (a holder unlinks it before letting go). */
async function namesInode(path: string, ino: bigint, dev: bigint): Promise<boolean> {
  try {
    const current = await stat(path, { bigint: true })
    return current.ino === ino && current.dev === dev
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false
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
        const st = await file.stat({ bigint: true })
        const record = await readRecord(file, Number(st.size))
        if (record !== undefined) handedOver = record
        if (await namesInode(path, st.ino, st.dev)) {
          keep = true
          return ofdLock(addon, file, path, st.ino, st.dev, handedOver)
        }
      }
      if (races > request.maxRaces) throw fsError(new Error('the lock file kept being replaced'), 'lock', path)
    } finally {
      if (!keep) {
        if (locked) addon.unlock(file.fd)
        await file.close()
      }
    }
  }
}

function ofdLock(addon: NativeLockAddon, file: FileHandle, path: string, ino: bigint, dev: bigint, handedOver: string | undefined): DestinationLock {
  let released = false
  return {
    path,
    kind: 'ofd',
    handedOver,
    async release(record?: string): Promise<void> {
      if (released) return
      released = true
      try {
        // Waiters already hold a descriptor on this inode: they read the record from it once
        // they get the lock, even though the path is gone by then.
        await file.truncate(0)
        if (record !== undefined && record !== '') await file.write(record, 0, 'utf8')
        // Unlinked while still locked, so nobody can lock this path's inode and then lose it.
        if (await namesInode(path, ino, dev)) await unlink(path)
      } catch (err) {
        throw fsError(err, 'remove the lock file', path)
      } finally {
        addon.unlock(file.fd)
        await file.close()
      }
    },
  }
}
