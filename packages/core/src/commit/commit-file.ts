import { open, rename, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fsError } from '../errors.js'

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
  await file.close()
  if (options.yields !== undefined && (await options.yields())) return false
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
    await rename(from, to)
  } catch (err) {
    throw fsError(err, `move the verified ${what} into place at`, to)
  }
  // Without this fsync a power cut right after `done` can lose the rename (power-cut.test.ts).
  if (fsync) await syncDirectory(dirname(to), 'destination directory')
}

/** fsync of a directory: makes the entries created or renamed in it durable. */
async function syncDirectory(path: string, noun: string): Promise<void> {
  const dir = await open(path, 'r').catch((err: unknown) => {
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
