import type { Stats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fsError } from '../errors.js'
import { folderCalls } from '../stage/folder-calls.js'

/**
 * How a commit reaches the disk. With `fsync` (the default everywhere), what was renamed is
 * flushed before the rename and the rename after it, so a power cut right after the commit
 * cannot lose it; without, the rename is still atomic, so a crash of the process leaves the old
 * destination or the whole new one, but a power cut may leave the old one.
 */
export interface CommitOptions {
  /** @default true */
  fsync?: boolean
  /**
   * Asked right before the rename (after the fsync, which may take long): true when someone else
   * committed the same file meanwhile, so ours yields (see landedMeanwhile). @default none
   */
  yields?: () => Promise<boolean>
  /**
   * Called right before the rename with the file's stat (the destination's inode and mtime once
   * renamed), after `yields` said to go on. @default none
   */
  landing?: (file: Stats) => Promise<void>
}

/**
 * Makes `file` durable, closes it, renames `from` onto `to`, and makes the rename durable;
 * unless `options.yields` says that the same file landed there meanwhile: then returns false
 * and leaves `from` where it is.
 */
export async function commitFile(file: FileHandle, from: string, to: string, options: CommitOptions = {}): Promise<boolean> {
  const fsync = options.fsync ?? true
  if (fsync) {
    try {
      await file.sync()
    } catch (err) {
      throw fsError(err, 'flush the downloaded file to disk (fsync) at', from)
    }
  }
  const landing = options.landing
  const st = landing === undefined ? undefined : await folderCalls(dirname(to)).fstat(file).catch(() => undefined)
  await file.close()
  if (options.yields !== undefined && (await options.yields())) return false
  if (st !== undefined) await landing?.(st)
  await renameIntoPlace(from, to, 'file', fsync)
  return true
}

/** Makes the entries of the folder `from` durable, renames it onto `to`, and makes the rename durable. */
export async function commitFolder(from: string, to: string, options: CommitOptions = {}): Promise<void> {
  const fsync = options.fsync ?? true
  if (fsync) await syncDirectory(from, 'downloaded folder')
  await renameIntoPlace(from, to, 'folder', fsync)
}

/** The one atomic step of every commit: after it, `to` holds the verified `what`, whole. */
async function renameIntoPlace(from: string, to: string, what: 'file' | 'folder', fsync: boolean): Promise<void> {
  try {
    await folderCalls(dirname(to)).rename(from, to)
  } catch (err) {
    throw fsError(err, `move the verified ${what} into place at`, to)
  }
  // Without this fsync a power cut right after `done` can lose the rename (power-cut.test.ts).
  if (fsync) await syncDirectoryShared(dirname(to))
}

/** Per directory: the fsync running, and the one queued behind it, which later renames share. */
const directorySyncs = new Map<string, { running: Promise<void>; next: Promise<void> | undefined }>()

/**
 * fsync of the destination directory after a rename, shared by the commits into that directory
 * (group commit): one fsync makes every rename that completed before it started durable. So a
 * rename that finds an fsync already running waits for it and joins the next one, which starts
 * when it ends; renames that complete meanwhile join that same one. Each commit still returns
 * only after an fsync that started after its rename has succeeded, and each sees its error.
 */
function syncDirectoryShared(path: string): Promise<void> {
  const state = directorySyncs.get(path)
  if (state === undefined) {
    const entry = { running: startDirectorySync(path), next: undefined as Promise<void> | undefined }
    directorySyncs.set(path, entry)
    return entry.running
  }
  state.next ??= state.running.then(
    () => undefined,
    () => undefined,
  ).then(() => {
    state.next = undefined
    state.running = startDirectorySync(path)
    return state.running
  })
  return state.next
}

/** Runs one fsync of `path` for {@link syncDirectoryShared}; the entry goes when nothing is queued behind it. */
function startDirectorySync(path: string): Promise<void> {
  const sync = syncDirectory(path, 'destination directory')
  const done = (): void => {
    const state = directorySyncs.get(path)
    if (state !== undefined && state.running === sync && state.next === undefined) directorySyncs.delete(path)
  }
  sync.then(done, done)
  return sync
}

/** fsync of a directory: makes the entries created or renamed in it durable. */
async function syncDirectory(path: string, noun: string): Promise<void> {
  const dir = await folderCalls(path).openDirectory(path).catch((err: unknown) => {
    throw fsError(err, `open the ${noun}`, path)
  })
  try {
    await dir.sync()
  } catch (err) {
    throw fsError(err, `flush the ${noun} (fsync)`, path)
  } finally {
    await dir.close()
  }
}
