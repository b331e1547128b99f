import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { DEFAULT_LOCK_KIND } from '../defaults.js'
import { ensureDir } from '../ensure-dir.js'
import { basename, dirname, join, resolve } from 'node:path'
import { HaulError, abortedError, fsError } from '../errors.js'
import { MAX_RACE_ATTEMPTS, isGone, raceDelay, retryRace } from '../fs-race.js'
import { sleep } from '../fetch/retry.js'
import { filesystemKind } from './fs-kind.js'
import { acquireOfdLock, loadNativeLock } from './lock-native.js'
import { acquireSocketLock } from './lock-socket.js'
import { FOLDER_LOCK_NAME, acquireFolderLock } from './folder-lock.js'
import { lockPathFor } from '../stage/staging-paths.js'

/**
 * Which kernel primitive holds a destination's lock: `auto` tries an OFD lock and falls back to
 * the abstract socket; `ofd` or `socket` forces one. Every process sharing a destination must
 * use the same kind.
 */
export type LockKind = 'auto' | 'ofd' | 'socket'

/** Options for {@link acquireLock}. */
export interface LockOptions {
  /** Fail with HAUL_LOCK_BUSY instead of waiting. @default false */
  noWait?: boolean
  /** The lock kind. @default 'auto' */
  kind?: LockKind
  /** Stops waiting (rejects with HAUL_ABORTED). */
  signal?: AbortSignal
  /** Called once, with the lock file, when the lock is held elsewhere and this call starts waiting. */
  onWait?: (lockPath: string) => void
  /**
   * Whether the lock file's folder is on a network filesystem, when the caller knows already.
   * @default found out with a statfs of that folder
   */
  network?: boolean
}

/** Options for {@link DestinationLock.release}. */
export interface ReleaseOptions {
  /**
   * Leave the lock file in place: a writer on another host sharing the folder, where locks don't
   * span hosts, holds its lock on this very file, and a process arriving there must find that
   * file (and wait), not make a new one. @default false
   */
  keepFile?: boolean
}

/** An exclusive, kernel-released lock on one destination. */
export interface DestinationLock {
  /** The lock file. */
  readonly path: string
  /** How it is held: an OFD lock on the file, or the abstract-socket fallback. */
  readonly kind: 'ofd' | 'socket'
  /**
   * Whether this is a byte of the folder's lock file (folder-lock.ts), which the destination
   * shares with the folder's others; then no staging folder is made for the lock.
   */
  readonly folderLock?: boolean
  /**
   * Folder lock only: the partial file a previous holder noted it was staging beside the
   * destination (its base name), if that holder did not clear it: killed, so the file is garbage.
   */
  readonly leftover?: string | undefined
  /**
   * Folder lock only: notes the partial this holder stages beside the destination (base name;
   * undefined clears), before the file is made, so that the next holder can remove it if this
   * one is killed. Throws if the note can't be written: a partial nobody could find must not be made.
   */
  notePartial?(partial: string | undefined): Promise<void>
  /**
   * The record the previous holder left when it released (e.g. "committed source X with digest
   * Y"), if this call waited for one. Lets a waiter skip a download that just landed.
   */
  readonly handedOver: string | undefined
  /**
   * Leaves `record` in the lock file now, while still holding it: the commit notes what it is
   * about to rename into place, so that a holder killed after the rename but before its release
   * still hands it over (the next holder reads it whether it waited or came later). A record
   * must describe only what is true once the rename is done; a holder killed before the rename
   * leaves one that no file matches. Where the lock file can't carry it (the socket lock), a
   * no-op. Errors are swallowed: the record only saves work.
   */
  note(record: string): Promise<void>
  /** Hands `record` to waiters, removes the lock file race-free (unless `keepFile`), and releases. */
  release(record?: string, options?: ReleaseOptions): Promise<void>
}

/**
 * What both lock kinds get from {@link acquireLock}: the shared rules (no-wait, onWait once,
 * abort, folder creation) live here so that each kind only implements its kernel primitive.
 * @internal
 */
export interface LockRequest {
  /** Absolute lock file path. */
  readonly path: string
  /**
   * Whether the lock file's folder is on a network filesystem: there a holder also leaves its
   * record in a host-local copy, which a waiter reads when the lock file gives it none (see
   * host-record.ts).
   */
  readonly network: boolean
  /** When acquireLock was called (Date.now()): host-local records from well before belong to earlier commits. */
  readonly began: number
  readonly signal: AbortSignal | undefined
  /**
   * Retries allowed in a row for races that make no progress (the folder or the lock file
   * vanished under us, perhaps by another host's clean-up); waiting for a live holder is not a
   * race and is never bounded.
   */
  readonly maxRaces: number
  /**
   * Waits before retry number `races` of a lost race: at once at first, then backing off past
   * the stale names a network folder's caches keep for about a second. Throws HAUL_ABORTED.
   */
  lostRace(races: number): Promise<void>
  /**
   * Found the lock held: throws HAUL_LOCK_BUSY under noWait, and HAUL_ABORTED if the signal has
   * fired (perhaps while no wait was listening to it).
   */
  busy(): void
  /**
   * Reports the wait (calls onWait, once per acquireLock). A kind calls it once the previous
   * holder is sure to hand its release record to this waiter, so that "onWait was called"
   * implies "the record will arrive". onWait may abort the signal: check it afterwards.
   */
  waiting(): void
  /** Throws HAUL_ABORTED if the signal fired. */
  throwIfAborted(): void
  /** Creates the lock file's folder. Throws the raw fs error: ENOENT is a race the caller retries. */
  ensureFolder(): Promise<void>
  /**
   * Opens the lock file read-write, creating it and its folder if missing; retries (bounded)
   * when the folder vanishes meanwhile (a previous holder tidying up, here or on another host
   * sharing the folder: ENOENT, ESTALE). Other errors → HAUL_IO.
   */
  openLockFile(): Promise<FileHandle>
  /** {@link openLockFile} with another way to open (`create` makes the file if missing): the folder lock's raw descriptor. */
  createLockFile<T>(create: (path: string) => Promise<T>): Promise<T>
}

/** The lock kinds {@link acquireLock} knows. */
export const LOCK_KINDS: ReadonlyArray<LockKind> = ['auto', 'ofd', 'socket']

/** Checks a lock kind given at run time (JavaScript callers, configuration). */
export function checkLockKind(kind: string): LockKind {
  if ((LOCK_KINDS as ReadonlyArray<string>).includes(kind)) return kind as LockKind
  throw new HaulError('HAUL_USAGE', `${JSON.stringify(kind)} is not a lock kind; use "auto", "ofd" or "socket".`)
}

/**
 * Takes the exclusive lock of one destination, waiting for the holder if another process has it.
 *
 * The kernel releases the lock when its holder dies, however it dies; there is no timeout and no
 * stealing, so a stopped or slow holder keeps it for as long as it lives. The primary kind is an
 * OFD lock on `lockPath` (fs-native-extensions); when the addon can't load, or the kernel or
 * filesystem refuses OFD locks, an abstract unix socket named after the canonical lock path
 * stands in (Linux only; see lock-socket.ts for what it does not cover). `kind: 'ofd'` or
 * `kind: 'socket'` forces one. Every process sharing a destination must use the same kind.
 *
 * An aborted OFD wait rejects at once, but the kernel wait behind it runs on until the holder
 * lets go (it can't be cancelled) and keeps the event loop alive until then; it then gives the
 * lock back. A CLI that aborts on SIGINT should end with `process.exit`.
 *
 * @param lockPath - the lock file; its folder is created if missing.
 * @throws HaulError `HAUL_LOCK_BUSY` (noWait and held elsewhere), `HAUL_ABORTED` (signal),
 *   `HAUL_IO` (the lock file or its folder can't be created), `HAUL_USAGE` (an unknown `kind`, or `ofd` without the addon).
 */
export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<DestinationLock> {
  const path = resolve(lockPath)
  const choice = checkLockKind(options.kind ?? DEFAULT_LOCK_KIND)
  const request = await lockRequest(path, choice !== 'socket' && (options.network ?? (await filesystemKind(dirname(path)))?.network === true), options)
  request.throwIfAborted()

  if (choice !== 'socket') {
    const native = loadNativeLock()
    if ('error' in native) {
      if (choice === 'ofd') {
        throw new HaulError('HAUL_USAGE', `The OFD lock was asked for, but the native lock addon (fs-native-extensions) could not load: ${String(native.error)}. Choose the lock kind "auto" to fall back to the socket lock.`, { path, cause: native.error })
      }
    } else {
      const lock = await acquireOfdLock(native.addon, request)
      if (lock !== 'unsupported') return lock
      if (choice === 'ofd') {
        throw new HaulError('HAUL_IO', `The OFD lock was asked for, but the kernel or the filesystem of ${path} does not support OFD locks. Choose the lock kind "auto" to fall back to the socket lock.`, { path })
      }
    }
  }
  return acquireSocketLock(request)
}

/**
 * Takes the lock of the destination `destination` (a file or folder path) where every haul
 * process on this host looks for it. On a local Linux filesystem with OFD locks, a byte of the
 * folder's lock file `.haul.lock` (folder-lock.ts): no inode is made or removed per destination.
 * Elsewhere — a network filesystem (other hosts keep their per-destination lock files and staging
 * folders there), the socket kind, no addon, a kernel or filesystem without OFD locks — the lock
 * file `.NAME.haul/lock` ({@link acquireLock}). The choice depends only on this host and the
 * folder, so every process here makes the same one.
 */
export async function acquireDestinationLock(destination: string, options: LockOptions = {}): Promise<DestinationLock> {
  const path = resolve(destination)
  const choice = checkLockKind(options.kind ?? DEFAULT_LOCK_KIND)
  if (choice !== 'socket' && process.platform === 'linux' && basename(path) !== FOLDER_LOCK_NAME) {
    const network = options.network ?? (await filesystemKind(dirname(path)))?.network === true
    const native = network ? undefined : loadNativeLock()
    if (native !== undefined && !('error' in native)) {
      const request = await lockRequest(join(dirname(path), FOLDER_LOCK_NAME), false, options)
      request.throwIfAborted()
      const lock = await acquireFolderLock(native.addon, request, basename(path))
      if (lock !== 'unsupported') return lock
    }
    return acquireLock(lockPathFor(path), { ...options, network })
  }
  return acquireLock(lockPathFor(path), options)
}

/** The shared rules of both lock kinds for the lock file `path` (see {@link LockRequest}). */
async function lockRequest(path: string, network: boolean, options: LockOptions): Promise<LockRequest> {
  const began = Date.now()
  const { signal, onWait } = options
  const noWait = options.noWait ?? false
  let reported = false
  const request: LockRequest = {
    path,
    network,
    began,
    signal,
    maxRaces: MAX_RACE_ATTEMPTS,
    async lostRace(races) {
      const delay = raceDelay(races)
      if (delay > 0) await sleep(delay, signal).catch(() => request.throwIfAborted())
      request.throwIfAborted()
    },
    busy() {
      if (noWait) {
        throw new HaulError('HAUL_LOCK_BUSY', `${path} is locked: another haul process is downloading this destination. Wait for it (run without --no-wait) or try again later.`, { path })
      }
      request.throwIfAborted()
    },
    waiting() {
      if (!reported) {
        reported = true
        onWait?.(path)
      }
    },
    throwIfAborted() {
      if (signal?.aborted === true) throw abortedError(signal)
    },
    ensureFolder: () => ensureDir(dirname(path)),
    openLockFile: () => request.createLockFile((lockFile) => open(lockFile, constants.O_RDWR | constants.O_CREAT, 0o666)),
    async createLockFile(create) {
      try {
        return await retryRace(
          async () => {
            await ensureDir(dirname(path))
            return await create(path)
          },
          isGone,
          signal,
        )
      } catch (err) {
        request.throwIfAborted()
        throw fsError(err, 'create the lock file', path)
      }
    },
  }
  return request
}
