import { open, readdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { readJournal, trustedRanges, type JournalState } from './journal.js'
import { stagingDirFor } from './staging-paths.js'
import { folderLockState } from '../lock/folder-lock.js'
import { WRITER_PREFIX, lonePartialWriter, parseWriterName, writerIsForeign, writerIsGone, type WriterId } from './writers.js'

/** One writer's partial download, as `haul status` shows it. */
export interface StagedEntry {
  /** The writer's folder, or its lone partial (a data file with no journal yet, see LONE_SUFFIX). */
  dir: string
  writer: WriterId | undefined
  /** Its writer runs (or may run: another host's writer can't be looked up; see `foreign`). */
  live: boolean
  /**
   * Another host's writer (on a shared folder): never resumed from here; it counts as abandoned
   * once nothing in its folder changed for DEFAULT_FOREIGN_STAGE_GRACE_MS (then `live` is false).
   */
  foreign: boolean
  journal: JournalState | undefined
  /** Bytes of the partial that its journal vouches for (see trustedRanges). */
  bytesOnDisk: number
}

/** Lists what is staged for a destination (for `haul status`): every writer's journal. */
export async function listStaged(destination: string): Promise<StagedEntry[]> {
  const root = stagingDirFor(destination)
  const out: StagedEntry[] = []
  // A lone partial beside the destination, noted in its folder's lock file: live while its lock is held.
  const state = folderLockState(destination)
  const beside = state.partial === undefined ? undefined : join(dirname(destination), state.partial)
  if (beside !== undefined && (await stat(beside).catch(() => undefined)) !== undefined) {
    out.push({ dir: beside, writer: undefined, live: state.held ?? false, foreign: false, journal: undefined, bytesOnDisk: 0 })
  }
  let entries: string[]
  try {
    entries = await readdir(root)
  } catch {
    return out
  }
  for (const name of entries) {
    if (!name.startsWith(WRITER_PREFIX)) continue
    const dir = join(root, name)
    const lone = lonePartialWriter(name)
    const writer = parseWriterName(lone ?? name)
    if (lone !== undefined) {
      // Nothing in it can be resumed: there is no journal to vouch for it.
      const live = writer !== undefined && !(await writerIsGone(writer, lone, dir))
      out.push({ dir, writer, live, foreign: writer !== undefined && writerIsForeign(writer), journal: undefined, bytesOnDisk: 0 })
      continue
    }
    const journal = await readJournal(join(dir, 'journal'))
    let bytesOnDisk = 0
    try {
      const fh = await open(join(dir, 'data'), 'r')
      try {
        bytesOnDisk = journal === undefined ? 0 : (await trustedRanges(fh, journal)).total
      } finally {
        await fh.close()
      }
    } catch {
      bytesOnDisk = 0
    }
    const live = writer !== undefined && !(await writerIsGone(writer, name, dir))
    out.push({ dir, writer, live, foreign: writer !== undefined && writerIsForeign(writer), journal, bytesOnDisk })
  }
  return out
}
