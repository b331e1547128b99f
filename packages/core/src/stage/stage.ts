import { mkdir, open, readdir, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'
import { readJournal, verifyClaims, type JournalState } from './journal.js'
import type { RangeSet } from './range-set.js'
import { stagingDirFor } from './staging-paths.js'
import { markInUse, parseWriterName, writerIsDead, writerName } from './writers.js'

/** A writer's own staging directory with its partial file open. */
export interface Stage {
  dir: string
  dataPath: string
  journalPath: string
  data: FileHandle
  /** The adopted journal, when resuming. */
  previous: JournalState | undefined
  /** Ranges of `data` re-checked against the adopted journal. */
  verified: RangeSet | undefined
}

/** Decides whether an orphan's journal belongs to the download at hand. */
export type JournalMatcher = (state: JournalState) => boolean

/**
 * Opens this writer's staging directory: adopts the best dead writer's partial when its journal
 * matches, removes dead writers' partials that don't, and otherwise starts empty.
 */
export async function openStage(destination: string, matches: JournalMatcher, signal?: AbortSignal): Promise<Stage> {
  const root = stagingDirFor(destination)
  const name = writerName()
  const mine = join(root, name)
  markInUse(name, true)
  try {
    await ensureDir(root)
  } catch (err) {
    throw fsError(err, 'create the staging directory', root)
  }
  let entries: string[]
  try {
    entries = await readdir(root)
  } catch (err) {
    throw fsError(err, 'list the staging directory', root)
  }
  let adopted: JournalState | undefined
  for (const name of entries) {
    const id = parseWriterName(name)
    if (id === undefined || !writerIsDead(id, name)) continue
    const dir = join(root, name)
    const state = await readJournal(join(dir, 'journal'))
    if (adopted === undefined && state !== undefined && matches(state)) {
      try {
        await rename(dir, mine)
        adopted = state
        continue
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue // another process won it
        throw fsError(err, 'adopt the partial download in', dir)
      }
    }
    // Dead and useless (other source, or we already adopted one): it only takes space.
    await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  }
  if (adopted === undefined) {
    try {
      await mkdir(mine)
    } catch (err) {
      throw fsError(err, 'create the staging directory', mine)
    }
  }
  const dataPath = join(mine, 'data')
  let data: FileHandle
  try {
    data = await open(dataPath, adopted === undefined ? 'w+' : 'r+')
  } catch (err) {
    // An orphan killed between its commit rename and its clean-up has a journal but no data (the
    // data became the destination): start empty in the adopted directory.
    if (adopted === undefined || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'open the partial file', dataPath)
    adopted = undefined
    try {
      data = await open(dataPath, 'w+')
    } catch (again) {
      throw fsError(again, 'open the partial file', dataPath)
    }
  }
  const verified = adopted === undefined ? undefined : await verifyClaims(data, adopted.claims, signal)
  return { dir: mine, dataPath, journalPath: join(mine, 'journal'), data, previous: adopted, verified }
}

/**
 * Removes the staging directories of dead writers (e.g. one killed between its commit rename and
 * its clean-up), so that a destination found already there leaves nothing else behind.
 */
export async function removeDeadStages(destination: string): Promise<void> {
  const root = stagingDirFor(destination)
  const entries = await readdir(root).catch(() => [] as string[])
  for (const name of entries) {
    const id = parseWriterName(name)
    if (id !== undefined && writerIsDead(id, name)) await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined)
  }
}

/** The transaction using `stage` is over; its directory may be adopted by a later one. */
export function leaveStage(stage: Pick<Stage, 'dir'>): void {
  markInUse(basename(stage.dir), false)
}

/** Removes a writer's staging directory. */
export async function removeStage(stage: Pick<Stage, 'dir' | 'dataPath' | 'journalPath'>): Promise<void> {
  // The two files a writer makes, then the folder: three calls where a recursive rm takes eight
  // (a small file's commit is mostly such calls). Anything else in it: the recursive rm.
  let plain = true
  for (const path of [stage.journalPath, stage.dataPath]) {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') plain = false
    })
  }
  const removed = plain && (await rmdir(stage.dir).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
  ))
  if (!removed) await rm(stage.dir, { recursive: true, force: true })
}

/** Removes the staging root when it is empty (another process may be using it; then it stays). */
export async function removeStagingRoot(destination: string): Promise<void> {
  await rmdir(stagingDirFor(destination)).catch(() => undefined)
}
