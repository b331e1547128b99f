import { constants } from 'node:fs'
import { copyFile, link, open, rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'
import { isGone } from '../fs-race.js'
import { tombFor } from './cache-layout.js'

/**
 * Takes back the blob at `blob` from `gc` if gc retired it (renamed it to its tomb) within the
 * grace period: renames it back. False when there is no tomb either (the blob is gone for good).
 * gc's lock can't stop gc on another host sharing the cache; this is what keeps a download
 * there from losing the blob it was about to link.
 */
export async function reclaimBlob(blob: string): Promise<boolean> {
  try {
    await rename(tombFor(blob), blob)
    return true
  } catch (err) {
    if (isGone(err)) return false
    throw fsError(err, 'take back the cache entry', blob)
  }
}

/**
 * Puts `blob`'s bytes at `output` atomically: a hard link (else a reflink or copy) to a
 * temporary name beside the output, then a rename. Nothing to do when the output already is the
 * blob. When the blob vanishes under the link (`gc` on another host retired it), takes it back
 * from its tomb ({@link reclaimBlob}) and links it again. False when the blob is gone for good.
 */
export async function placeOutput(blob: string, output: string): Promise<boolean> {
  const b = await stat(blob).catch(async (err: unknown) => {
    if (isGone(err) && (await reclaimBlob(blob))) return stat(blob).catch(() => undefined)
    if (isGone(err)) return undefined
    throw fsError(err, 'read the cache entry', blob)
  })
  if (b === undefined) return false
  const o = await stat(output).catch(() => undefined)
  if (o !== undefined && o.ino === b.ino && o.dev === b.dev) return true
  try {
    await ensureDir(dirname(output))
  } catch (err) {
    throw fsError(err, 'create the folder', dirname(output))
  }
  const tmp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.haul-link`)
  try {
    const linked = (await linkOrCopy(blob, tmp)) || ((await reclaimBlob(blob)) && (await linkOrCopy(blob, tmp)))
    if (!linked) return false
    await rename(tmp, output)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw fsError(err, 'link the cached file to', output)
  }
  const dir = await open(dirname(output), 'r').catch(() => undefined)
  await dir?.sync().catch(() => undefined)
  await dir?.close()
  return true
}

/**
 * A hard link from `blob` to `tmp`; on another filesystem, or one without hard links, a reflink
 * or copy. False when the blob is not there (ENOENT, ESTALE).
 */
async function linkOrCopy(blob: string, tmp: string): Promise<boolean> {
  try {
    await link(blob, tmp)
    return true
  } catch (err) {
    if (isGone(err)) return false
  }
  try {
    await copyFile(blob, tmp, constants.COPYFILE_FICLONE)
  } catch (err) {
    if (isGone(err)) return false
    throw err
  }
  const fh = await open(tmp, 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
  return true
}
