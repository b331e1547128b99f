import { HaulError, fsError } from '../errors.js'
import { formatBytes } from '../format.js'
import { folderCalls } from './folder-calls.js'

/**
 * Fails with HAUL_NO_SPACE before any body byte is written when `remaining` bytes plus
 * `margin` won't fit on the filesystem holding `dir`.
 */
export async function checkFreeSpace(dir: string, remaining: number, margin: number): Promise<void> {
  let available: number
  try {
    const s = await folderCalls(dir).statfs(dir)
    available = s.bavail * s.bsize
  } catch (err) {
    throw fsError(err, 'check free space in', dir)
  }
  const needed = remaining + margin
  if (needed > available) {
    throw new HaulError(
      'HAUL_NO_SPACE',
      `Not enough disk space in ${dir}: the download needs ${formatBytes(remaining)} more, only ${formatBytes(available)} is free. Free at least ${formatBytes(needed - available)} and run again.`,
      { path: dir, needed, available },
    )
  }
}
