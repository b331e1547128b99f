import { link, lstat, rename, rm, stat, symlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'

/** Files a downloaded file under its SHA-256: the blob, if already there, is kept as it is. */
export async function fileBlob(from: string, blob: string): Promise<void> {
  try {
    await ensureDir(dirname(blob))
    await link(from, blob).catch(async (err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return
      if (code === 'ENOENT' && (await stat(blob).catch(() => undefined)) !== undefined) return // another process filed it
      await rename(from, blob)
    })
    await rm(from, { force: true })
  } catch (err) {
    throw fsError(err, 'file the download in the cache at', blob)
  }
}

/** Turns a committed CID entry into a symlink to its SHA-256 blob at `blob`. */
export async function fileCidAlias(entry: string, sha256: string, blob: string): Promise<void> {
  try {
    if ((await lstat(entry)).isSymbolicLink()) return
    await ensureDir(dirname(blob))
    await link(entry, blob).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    })
    const tmp = join(dirname(entry), `.${basename(entry)}.${randomBytes(6).toString('hex')}.link`)
    await symlink(join('..', 'sha256', sha256), tmp)
    await rename(tmp, entry).catch(async (err: unknown) => {
      await rm(tmp, { force: true })
      throw err
    })
  } catch (err) {
    throw fsError(err, 'file the download in the cache at', blob)
  }
}
