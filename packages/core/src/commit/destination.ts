import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'
import { acquireLock, type LockKind } from '../lock/lock.js'
import { removeStagingRoot } from '../stage/stage.js'
import { lockPathFor, stagingDirFor } from '../stage/staging-paths.js'
import { parseCommitRecord, type CommitRecord, type Committed } from './commit-record.js'

/** How {@link withDestination} waits for the destination's lock. */
export interface DestinationShellOptions {
  /**
   * Fail with HAUL_LOCK_BUSY instead of waiting when another process holds the destination.
   * @default false
   */
  noWait?: boolean
  /** Stops waiting for the lock (HAUL_ABORTED). */
  signal?: AbortSignal
  /** Called once, with the lock file, when another process holds the destination and this one starts waiting. */
  onWait?: (lockPath: string) => void
  /** The lock kind. @default 'auto' */
  lockKind?: LockKind
}

/** A destination (a file or a folder) whose lock this process holds. */
export interface HeldDestination {
  /** The absolute destination path. */
  readonly path: string
  /** The hidden staging folder beside it (`.NAME.haul`), which holds the lock and the writers' partials. */
  readonly stagingDir: string
  /**
   * What the previous holder committed, when this call waited for it: lets the body skip a
   * download that just landed (after checking, with {@link recordDescribes}, that the
   * destination is still what the record describes).
   */
  readonly handedOver: CommitRecord | undefined
}

/** What the body of {@link withDestination} produced: its result, and what it committed, if anything. */
export interface ShellOutcome<T> {
  result: T
  /** What is now at the destination, to hand to the waiters; undefined hands them nothing. */
  committed: Committed | undefined
}

/**
 * The destination shell, the same for a file and for a folder: creates the destination's parent
 * folder, takes the destination's lock (waiting for another holder), runs `body` (re-check,
 * stage, fetch, verify, commit), then releases the lock, handing the waiters a record of what
 * was committed (with the inode it landed as), and removes the staging folder if it is empty.
 */
export async function withDestination<T>(path: string, options: DestinationShellOptions, body: (held: HeldDestination) => Promise<ShellOutcome<T>>): Promise<T> {
  const destination = resolve(path)
  try {
    await ensureDir(dirname(destination))
  } catch (err) {
    throw fsError(err, 'create the folder', dirname(destination))
  }
  const lockPath = lockPathFor(destination)
  const onWait = options.onWait
  const lock = await acquireLock(lockPath, {
    noWait: options.noWait ?? false,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(onWait === undefined ? {} : { onWait: () => onWait(lockPath) }),
    ...(options.lockKind === undefined ? {} : { kind: options.lockKind }),
  })
  let record: CommitRecord | undefined
  try {
    const outcome = await body({ path: destination, stagingDir: stagingDirFor(destination), handedOver: parseCommitRecord(lock.handedOver) })
    if (outcome.committed !== undefined) record = await recordOf(destination, outcome.committed)
    return outcome.result
  } finally {
    await lock.release(record === undefined ? undefined : JSON.stringify(record)).catch(() => undefined)
    await removeStagingRoot(destination)
  }
}

async function recordOf(destination: string, committed: Committed): Promise<CommitRecord | undefined> {
  const st = await stat(destination).catch(() => undefined)
  if (st === undefined) return undefined
  return { ...committed, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs }
}
