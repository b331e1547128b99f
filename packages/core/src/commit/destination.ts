import type { Stats } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { FilesystemKind } from '../lock/fs-kind.js'
import { acquireDestinationLock, type LockKind } from '../lock/lock.js'
import { releaseDestination, removeDeadStages } from '../stage/stage.js'
import { folderCalls, openFolder } from '../stage/folder-calls.js'
import { isBesidePartialOf, stagingDirFor } from '../stage/staging-paths.js'
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
  /**
   * Called once, before the lock is taken, when the destination's folder is on a network
   * filesystem, where the lock may exclude only this host's processes.
   */
  onNetworkFilesystem?: (kind: FilesystemKind, folder: string) => void
}

/** A destination (a file or a folder) whose lock this process holds. */
export interface HeldDestination {
  /** The absolute destination path. */
  readonly path: string
  /** The hidden staging folder beside it (`.NAME.haul`), which holds the writers' folders (and the lock, unless `notePartial` is set). */
  readonly stagingDir: string
  /**
   * Set when the destination is locked in its folder's lock file (lock/folder-lock.ts): a new
   * writer's lone partial then goes beside it (the staging folder is made only for a journal),
   * and this notes its base name in the lock file before it is made.
   */
  readonly notePartial: ((partial: string) => Promise<void>) | undefined
  /**
   * What the previous holder committed, when this call waited for it: lets the body skip a
   * download that just landed (after checking, with {@link recordDescribes}, that the
   * destination is still what the record describes).
   */
  readonly handedOver: CommitRecord | undefined
  /**
   * What was at the destination when the lock was taken (undefined: nothing), so that the
   * commit can tell whether someone the lock did not exclude (another host) committed meanwhile.
   */
  readonly found: Stats | undefined
  /**
   * Called by a file's commit right before its rename, with the staged file's stat (its inode
   * and mtime are the destination's once renamed): leaves the record of what is landing in the
   * lock file, so a kill between the rename and the release still hands it to the next holder.
   */
  landing(committed: Committed, file: Stats): Promise<void>
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
 * stage, fetch, verify, commit), then removes what dead writers left if the destination holds what
 * was asked for, releases the lock, handing the waiters a record of what was committed (with the
 * inode it landed as), and removes the staging folder if it is empty.
 */
export async function withDestination<T>(path: string, options: DestinationShellOptions, body: (held: HeldDestination) => Promise<ShellOutcome<T>>): Promise<T> {
  const destination = resolve(path)
  const folder = dirname(destination)
  const kind = await openFolder(folder)
  if (kind?.network === true) options.onNetworkFilesystem?.(kind, folder)
  const onWait = options.onWait
  const lock = await acquireDestinationLock(destination, {
    noWait: options.noWait ?? false,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(onWait === undefined ? {} : { onWait }),
    ...(options.lockKind === undefined ? {} : { kind: options.lockKind }),
    // The staging folder the lock lives in is on the destination folder's filesystem.
    ...(kind === undefined ? {} : { network: kind.network }),
  })
  const beside = lock.folderLock === true
  const notePartial = beside && lock.notePartial !== undefined ? lock.notePartial.bind(lock) : undefined
  let record: string | undefined
  let landed: string | undefined
  const landing = async (committed: Committed, file: Stats): Promise<void> => {
    landed = recordText(committed, file)
    await lock.note(landed)
  }
  try {
    // What a holder killed while staging beside the destination left: nobody else writes it now.
    // (Often the slot still names a partial its holder committed or removed: a stat says so.)
    const leftover = lock.leftover !== undefined && isBesidePartialOf(destination, lock.leftover) ? join(folder, lock.leftover) : undefined
    if (leftover !== undefined && (await folderCalls(folder).statIfAny(leftover)) !== undefined) await folderCalls(folder).unlink(leftover).catch(() => undefined)
    const found = await folderCalls(folder).statIfAny(destination)
    const outcome = await body({ path: destination, stagingDir: stagingDirFor(destination), notePartial, handedOver: parseCommitRecord(lock.handedOver), found, landing })
    // A file's commit noted its record as it landed; a folder's, or a file found already there, is looked at now.
    if (outcome.committed !== undefined) record = landed ?? (await recordOf(folder, destination, outcome.committed))
    return outcome.result
  } finally {
    // Under the folder lock the staging folder is there only if a journal went to disk (or an
    // older haul staged here): one stat tells both steps below.
    const rootThere = beside ? (await folderCalls(folder).statIfAny(stagingDirFor(destination))) !== undefined : true
    // What dead writers left is useless once the destination holds what was asked for.
    const othersStaging = record === undefined ? undefined : rootThere ? await removeDeadStages(destination) : false
    await releaseDestination(lock, destination, record, othersStaging, rootThere)
  }
}

/** The record of `committed` as it is at `destination` now; undefined if nothing is there. */
async function recordOf(folder: string, destination: string, committed: Committed): Promise<string | undefined> {
  const st = await folderCalls(folder).statIfAny(destination)
  return st === undefined ? undefined : recordText(committed, st)
}

/** The record of `committed` landed as the file or folder `st` (one key order, so equal records are equal strings). */
function recordText(committed: Committed, st: Stats): string {
  const record: CommitRecord = { source: committed.source, size: committed.size, digests: committed.digests, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs }
  return JSON.stringify(record)
}
