import { open, rename, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fsError } from '../errors.js'

/** Makes `file` durable, renames `from` onto `to`, and makes the rename durable. */
export async function commitFile(file: FileHandle, from: string, to: string): Promise<void> {
  try {
    await file.sync()
  } catch (err) {
    throw fsError(err, 'flush the downloaded file to disk (fsync) at', from)
  }
  await file.close()
  await renameIntoPlace(from, to, 'file')
}

/** Makes the entries of the folder `from` durable, renames it onto `to`, and makes the rename durable. */
export async function commitFolder(from: string, to: string): Promise<void> {
  await syncDirectory(from, 'downloaded folder')
  await renameIntoPlace(from, to, 'folder')
}

/** The one atomic step of every commit: after it, `to` holds the verified `what`, whole. */
async function renameIntoPlace(from: string, to: string, what: 'file' | 'folder'): Promise<void> {
  try {
    await rename(from, to)
  } catch (err) {
    throw fsError(err, `move the verified ${what} into place at`, to)
  }
  // Test hook only: apps/cli/test/power-cut.test.ts shows that without this fsync a power
  // cut right after `done` can lose the rename.
  if (process.env.HAUL_TEST_SKIP_DIR_FSYNC === '1') return
  await syncDirectory(dirname(to), 'destination directory')
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
