import { constants } from 'node:fs'
import { copyFile, link, open, rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'

/**
 * Puts `blob`'s bytes at `output` atomically: a hard link (else a reflink or copy) to a
 * temporary name beside the output, then a rename. Nothing to do when the output already is the
 * blob.
 */
export async function placeOutput(blob: string, output: string): Promise<void> {
  const [b, o] = await Promise.all([stat(blob), stat(output).catch(() => undefined)])
  if (o !== undefined && o.ino === b.ino && o.dev === b.dev) return
  try {
    await ensureDir(dirname(output))
  } catch (err) {
    throw fsError(err, 'create the folder', dirname(output))
  }
  const tmp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.haul-link`)
  try {
    try {
      await link(blob, tmp)
    } catch {
      // Another filesystem, or one without hard links: a reflink where the filesystem can, else a copy.
      await copyFile(blob, tmp, constants.COPYFILE_FICLONE)
      const fh = await open(tmp, 'r+')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    await rename(tmp, output)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw fsError(err, 'link the cached file to', output)
  }
  const dir = await open(dirname(output), 'r').catch(() => undefined)
  await dir?.sync().catch(() => undefined)
  await dir?.close()
}
