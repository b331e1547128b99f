import { randomBytes } from 'node:crypto'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DEFAULT_FOREIGN_STAGE_GRACE_MS } from '../defaults.js'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'
import { sleep } from '../fetch/retry.js'
import { isGone, raceDelay, retryRace } from '../fs-race.js'
import { readJournal, trustedRanges, type JournalState } from './journal.js'
import type { DestinationLock } from '../lock/lock.js'
import type { RangeSet } from './range-set.js'
import { folderCalls, type FolderCalls } from './folder-calls.js'
import { besidePartialFor, stagingDirFor } from './staging-paths.js'
import { LONE_SUFFIX, lonePartialWriter, markInUse, parseWriterName, writerIsDead, writerIsGone, writerName } from './writers.js'

/**
 * A writer's own stage with its partial file open: its folder `dir` (with `data` and `journal`),
 * or, until its journal goes to disk, only its lone partial beside that folder's name
 * (`dir` + {@link LONE_SUFFIX}): see {@link makeStageFolder}.
 */
export interface Stage {
  dir: string
  /** Where the partial is now (the lone partial, or `dir/data` once the folder is made). */
  dataPath: string
  journalPath: string
  /** Whether `dir` exists (an adopted stage's always does). */
  folderMade: boolean
  /**
   * Whether the lone partial is beside the destination (`.NAME.haul.TAG.part`, under a folder
   * lock: see lock/folder-lock.ts) rather than in the staging root, which is then made only for a journal.
   */
  beside: boolean
  data: FileHandle
  /** How the destination's folder is called (synchronously where it is local), as classified when the stage opened. */
  calls: FolderCalls
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
 *
 * On a folder other hosts share, their clean-up can land between any two calls here: the staging
 * root may vanish (its last holder removed it as empty) and an orphan may be adopted or removed
 * by someone else first. Losing such a race (ENOENT, ESTALE) means trying again, bounded; an
 * orphan is only ever taken by one atomic rename, for adoption or for removal, so only one
 * process acts on it.
 */
export async function openStage(destination: string, matches: JournalMatcher, signal?: AbortSignal, notePartial?: (partial: string) => Promise<void>): Promise<Stage> {
  const beside = notePartial !== undefined
  const root = stagingDirFor(destination)
  const calls = folderCalls(dirname(destination))
  const name = writerName()
  const mine = join(root, name)
  markInUse(name, true)
  // Beside the destination the root is made only for a journal: none there is the common case,
  // asked with a stat (a failed listing's error, with its stack, costs more than the call).
  const entries = beside
    ? (await calls.statIfAny(root)) === undefined
      ? []
      : await calls.readdir(root).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return [] as string[]
          throw fsError(err, 'list the staging directory', root)
        })
    : await inRoot(root, 'list the staging directory', root, () => calls.readdir(root), signal)
  let adopted: JournalState | undefined
  for (const name of entries) {
    if (isTrash(name)) {
      await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined)
      continue
    }
    const lone = lonePartialWriter(name)
    if (lone !== undefined) {
      // No journal says what a lone partial holds: never adopted, removed once its writer is dead.
      if (writerIsDead(parseWriterName(lone)!, lone)) await calls.unlink(join(root, name)).catch(() => undefined)
      continue
    }
    const id = parseWriterName(name)
    if (id === undefined || !writerIsDead(id, name)) continue
    const dir = join(root, name)
    const state = await readJournal(join(dir, 'journal'))
    const useful = state !== undefined && matches(state)
    if (adopted === undefined && useful) {
      try {
        await calls.rename(dir, mine)
        adopted = state
        continue
      } catch (err) {
        if (isGone(err)) continue // another process won it
        throw fsError(err, 'adopt the partial download in', dir)
      }
    }
    // Another partial of this very download stays for a writer on another host sharing the
    // folder (ours excludes the writers here): the commit removes whatever is left of it.
    if (useful) continue
    // Dead and useless (another source, or no journal): it only takes space.
    await removeOrphan(calls, root, dir)
  }
  const journalPath = join(mine, 'journal')
  if (adopted === undefined) {
    // A new writer starts with a lone partial: no folder to make now, nor to remove after a commit.
    if (notePartial !== undefined) {
      const dataPath = besidePartialFor(destination, partialTag())
      try {
        // Noted before it exists: a holder killed from here on leaves a name the next one removes.
        await notePartial(basename(dataPath))
      } catch (err) {
        throw fsError(err, 'note the partial file in the lock file of', dataPath)
      }
      const data = await open(dataPath, 'wx+').catch((err: unknown) => {
        throw fsError(err, 'open the partial file', dataPath)
      })
      return { dir: mine, dataPath, journalPath, folderMade: false, beside, data, calls, previous: undefined, verified: undefined }
    }
    const dataPath = mine + LONE_SUFFIX
    const data = await inRoot(root, 'open the partial file', dataPath, () => open(dataPath, 'wx+'), signal)
    return { dir: mine, dataPath, journalPath, folderMade: false, beside, data, calls, previous: undefined, verified: undefined }
  }
  const dataPath = join(mine, 'data')
  let data: FileHandle
  try {
    data = await open(dataPath, 'r+')
  } catch (err) {
    // An orphan killed between its commit rename and its clean-up has a journal but no data (the
    // data became the destination): start empty in the adopted directory.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'open the partial file', dataPath)
    adopted = undefined
    try {
      data = await open(dataPath, 'w+')
    } catch (again) {
      throw fsError(again, 'open the partial file', dataPath)
    }
  }
  const verified = adopted === undefined ? undefined : await trustedRanges(data, adopted)
  return { dir: mine, dataPath, journalPath, folderMade: true, beside, data, calls, previous: adopted, verified }
}

/** A random prefix drawn once, then a count: a partial's tag, new to this process and (all but surely) to every other. */
let tagPrefix: string | undefined
let tagCount = 0

function partialTag(): string {
  return `${(tagPrefix ??= randomBytes(4).toString('hex'))}${(tagCount++).toString(16)}`
}

/**
 * Gives a stage that has only its lone partial its folder, and moves the partial in as `data`
 * (the open descriptor follows the rename): called before its journal is first written, since a
 * partial is adoptable only as a folder with a journal. A writer killed between the two calls
 * leaves an empty folder and a lone partial, both removed as a dead writer's.
 */
export async function makeStageFolder(stage: Stage): Promise<void> {
  if (stage.folderMade) return
  // The root is there: the lone partial in it keeps it from being removed as empty. A partial
  // beside the destination has none yet (only this lock's holder makes or removes it then).
  if (stage.beside) await ensureDir(dirname(stage.dir))
  const dataPath = join(stage.dir, 'data')
  try {
    await stage.calls.moveIntoNewFolder(stage.dir, stage.dataPath, dataPath)
  } catch (err) {
    await stage.calls.rmdir(stage.dir).catch(() => undefined) // made, but the move failed: the partial stays lone
    throw err
  }
  stage.dataPath = dataPath
  stage.folderMade = true
}

/**
 * Runs `step` inside the staging root. The root is there already (the lock file is in it), so
 * `step` goes first; when the root vanished meanwhile (removed as empty by a holder tidying up,
 * perhaps on another host), creates it again and retries, bounded. Other errors, or too many
 * lost races → HaulError (`action` `path`).
 */
async function inRoot<T>(root: string, action: string, path: string, step: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  let creating = false
  try {
    return await retryRace(
      async (attempt) => {
        if (attempt > 0) {
          creating = true
          await ensureDir(root)
          creating = false
        }
        return await step()
      },
      isGone,
      signal,
    )
  } catch (err) {
    throw creating ? fsError(err, 'create the staging directory', root) : fsError(err, action, path)
  }
}

/** Prefix of a dead writer's directory claimed for removal (see {@link removeOrphan}). */
const TRASH_PREFIX = 'x.'

function isTrash(name: string): boolean {
  return name.startsWith(TRASH_PREFIX)
}

/**
 * Removes a dead writer's directory: first takes it by renaming it to a trash name (atomic, so
 * an adopter and a remover never both act on it: one of the renames fails), then deletes it.
 * Trash left by a remover that died is removed by the next one.
 */
async function removeOrphan(calls: FolderCalls, root: string, dir: string): Promise<void> {
  const trash = join(root, `${TRASH_PREFIX}${randomBytes(6).toString('hex')}`)
  try {
    await calls.rename(dir, trash)
  } catch {
    return // taken by someone else (ENOENT/ESTALE), or not ours to take: leave it
  }
  await rm(trash, { recursive: true, force: true }).catch(() => undefined)
}

/**
 * Removes the staging directories of dead writers (e.g. one killed between its commit rename and
 * its clean-up), so that a committed destination, or one found already there, leaves nothing
 * else behind. A writer of another host counts as dead once its directory has not changed for
 * {@link DEFAULT_FOREIGN_STAGE_GRACE_MS} (a host that died mid-download, where locks don't span
 * hosts, would otherwise leave its partial beside the file for good). Returns whether a live
 * writer other than this process's finished ones is staging there (for
 * {@link releaseDestination}, which then need not list the folder again).
 */
export async function removeDeadStages(destination: string): Promise<boolean> {
  const root = stagingDirFor(destination)
  const calls = folderCalls(dirname(destination))
  const entries = await calls.readdir(root).catch(() => [] as string[])
  let others = false
  for (const name of entries) {
    const lone = lonePartialWriter(name)
    const id = parseWriterName(lone ?? name)
    const dir = join(root, name)
    if (isTrash(name)) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
    else if (lone !== undefined) {
      if (await writerIsGone(id!, lone, dir)) await calls.unlink(dir).catch(() => undefined)
      else others = true
    } else if (id !== undefined && (await writerIsGone(id, name, dir))) await removeOrphan(calls, root, dir)
    else if (id !== undefined) others = true
  }
  return others
}

/** The transaction using `stage` is over; its directory may be adopted by a later one. */
export function leaveStage(stage: Pick<Stage, 'dir'>): void {
  markInUse(basename(stage.dir), false)
}

/** Which of a writer's two files may still be in its directory (each false saves a call that fails). */
export interface StageFiles {
  journal: boolean
  data: boolean
}

/** Removes a writer's staging directory (or its lone partial). */
export async function removeStage(stage: Pick<Stage, 'dir' | 'dataPath' | 'journalPath' | 'folderMade'>, files: StageFiles): Promise<void> {
  // The writer's files, then the folder: a call each where a recursive rm takes eight (a small
  // file's commit is mostly such calls). Anything else in it: the recursive rm.
  // A writer's folder is in the staging root, beside the destination.
  const calls = folderCalls(dirname(dirname(stage.dir)))
  if (!stage.folderMade) {
    if (files.data) await calls.unlink(stage.dataPath).catch(() => undefined)
    return
  }
  let plain = true
  for (const path of [files.journal ? stage.journalPath : undefined, files.data ? stage.dataPath : undefined]) {
    if (path === undefined) continue
    await calls.unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') plain = false
    })
  }
  const removed = plain && (await calls.rmdir(stage.dir).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
  ))
  if (!removed) await rm(stage.dir, { recursive: true, force: true })
}

/**
 * Releases the lock of `destination`, handing `record` to the waiters, and removes the staging
 * root if it is empty. The lock file stays while another writer (on another host sharing the
 * folder, where locks don't span hosts) is staging there: its lock is on that very file.
 * `othersStaging`: what {@link removeDeadStages} just found; undefined: look.
 */
export async function releaseDestination(lock: DestinationLock, destination: string, record?: string, othersStaging?: boolean, rootThere?: boolean): Promise<void> {
  if (lock.folderLock === true) {
    // The folder's lock file is not this destination's to keep or remove; the staging root is
    // there only if a journal went to disk (or an older haul staged here). `rootThere`: the
    // caller's look at it; undefined: look.
    await lock.release(record).catch(() => undefined)
    if (rootThere ?? (await folderCalls(dirname(destination)).statIfAny(stagingDirFor(destination))) !== undefined) await removeStagingRoot(destination)
    return
  }
  await lock.release(record, { keepFile: othersStaging ?? (await anyOtherWriter(destination)) }).catch(() => undefined)
  await removeStagingRoot(destination)
}

/** Whether a writer other than this process's finished ones may be staging for `destination`. */
async function anyOtherWriter(destination: string): Promise<boolean> {
  const entries = await folderCalls(dirname(destination)).readdir(stagingDirFor(destination)).catch(() => [] as string[])
  return entries.some((entry) => {
    const name = lonePartialWriter(entry) ?? entry
    const id = parseWriterName(name)
    return id !== undefined && !writerIsDead(id, name)
  })
}

/**
 * Names a network filesystem's client gives a file that was unlinked while still open here
 * (NFS's `.nfsXXXX`, FUSE's `.fuse_hiddenXXXX`, as when a holder removes the lock file that its
 * waiters hold open): they vanish once the last descriptor on them closes.
 */
const SILLY_RENAME = /^\.(?:nfs|fuse_hidden)[0-9a-fA-F]+$/

/** Tries to remove a staging root held up by such names, spread over about three seconds. */
const MAX_SILLY_WAITS = 20

/**
 * Removes the staging root when it is empty (another process may be using it; then it stays,
 * and that process removes it). When all that is left are silly-renamed lock files, which go
 * when the descriptors on them close (ours just did; FUSE tells its server asynchronously),
 * waits for them, bounded: otherwise the last process out would leave the folder behind.
 */
export async function removeStagingRoot(destination: string): Promise<void> {
  const root = stagingDirFor(destination)
  const calls = folderCalls(dirname(destination))
  for (let attempt = 1; ; attempt++) {
    try {
      return await calls.rmdir(root)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= MAX_SILLY_WAITS) return
    }
    const entries = await calls.readdir(root).catch(() => [] as string[])
    if (!entries.every((name) => SILLY_RENAME.test(name))) return
    await sleep(raceDelay(attempt))
  }
}
