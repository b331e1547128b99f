import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, open, readdir, rename, rm, rmdir, type FileHandle } from 'node:fs/promises'
import { ensureDir } from './ensure-dir.js'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fsError } from './errors.js'
import { readJournal, verifyClaims, type JournalState } from './journal.js'
import type { RangeSet } from './range-set.js'

/**
 * Staging lives beside the destination (same directory, so the final rename never crosses a
 * filesystem): `.NAME.haul/` holds the lock file and one directory per writer, each with the
 * partial `data` and its `journal`.
 *
 * Correctness does not rest on the lock (flock/OFD can silently succeed on network filesystems):
 * every writer writes only inside its own directory, and takes over an orphan's directory by one
 * atomic rename, which exactly one process can win. A directory is an orphan only when its
 * writer, named in the directory's name, is known dead (same host, pid gone or reused).
 */

const WRITER_PREFIX = 'w.'

/** Longest destination name used as is in the staging name; longer ones are shortened + hashed. */
const MAX_PLAIN_NAME_BYTES = 200

/** The hidden staging directory for a destination (beside it, so the rename stays on one filesystem). */
export function stagingDirFor(destination: string): string {
  const name = basename(destination)
  if (Buffer.byteLength(name) <= MAX_PLAIN_NAME_BYTES) return join(dirname(destination), `.${name}.haul`)
  // A 255-byte name would not fit with the dot and suffix: keep a readable prefix and a hash.
  const short = Array.from(name).slice(0, 100).join('')
  return join(dirname(destination), `.${short}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}.haul`)
}

/** The lock file for a destination. */
export function lockPathFor(destination: string): string {
  return join(stagingDirFor(destination), 'lock')
}

/** Fields of /proc/PID/stat after the parenthesised command name (which may contain spaces). */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** The process's start time (field 22), which tells a reused pid from the original. */
function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19]
}

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_')

function writerName(): string {
  const start = processStartTime(process.pid) ?? '0'
  return `${WRITER_PREFIX}${HOST}.${process.pid}.${start}.${randomBytes(4).toString('hex')}`
}

interface WriterId {
  host: string
  pid: number
  start: string
}

function parseWriterName(name: string): WriterId | undefined {
  const m = /^w\.([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.[0-9a-f]+$/.exec(name)
  return m === null ? undefined : { host: m[1]!, pid: Number(m[2]), start: m[3]! }
}

/** Writer directories that a transaction in this process is using right now. */
const IN_USE = new Set<string>()

/** Whether the writer that named a staging directory is certainly gone. */
function writerIsDead(id: WriterId, name: string): boolean {
  if (id.host !== HOST) return false // another host on a shared filesystem: can't tell, leave it
  if (id.pid === process.pid) return id.start !== (processStartTime(process.pid) ?? '0') || !IN_USE.has(name)
  try {
    process.kill(id.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true
  }
  const fields = procStat(id.pid)
  // A killed writer stays a zombie until its parent reaps it; it can't write any more.
  if (fields === undefined || fields[0] === 'Z' || fields[0] === 'X') return true
  return fields[19] !== id.start
}

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
  IN_USE.add(name)
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
  IN_USE.delete(basename(stage.dir))
}

/** Removes a writer's staging directory. */
export async function removeStage(stage: Pick<Stage, 'dir'>): Promise<void> {
  await rm(stage.dir, { recursive: true, force: true })
}

/** Removes the staging root when it is empty (another process may be using it; then it stays). */
export async function removeStagingRoot(destination: string): Promise<void> {
  await rmdir(stagingDirFor(destination)).catch(() => undefined)
}

/** Lists what is staged for a destination (for `haul status`): every writer's journal. */
export async function listStaged(destination: string): Promise<Array<{ dir: string; writer: WriterId | undefined; live: boolean; journal: JournalState | undefined; bytesOnDisk: number }>> {
  const root = stagingDirFor(destination)
  let entries: string[]
  try {
    entries = await readdir(root)
  } catch {
    return []
  }
  const out = []
  for (const name of entries) {
    if (!name.startsWith(WRITER_PREFIX)) continue
    const dir = join(root, name)
    const writer = parseWriterName(name)
    const journal = await readJournal(join(dir, 'journal'))
    let bytesOnDisk = 0
    try {
      const fh = await open(join(dir, 'data'), 'r')
      try {
        bytesOnDisk = journal === undefined ? 0 : (await verifyClaims(fh, journal.claims)).total
      } finally {
        await fh.close()
      }
    } catch {
      bytesOnDisk = 0
    }
    out.push({ dir, writer, live: writer !== undefined && !writerIsDead(writer, basename(dir)), journal, bytesOnDisk })
  }
  return out
}

/** Renames `from` onto `to` and makes both the file and the rename durable. */
export async function commitFile(file: FileHandle, from: string, to: string): Promise<void> {
  try {
    await file.sync()
  } catch (err) {
    throw fsError(err, 'flush the downloaded file to disk (fsync) at', from)
  }
  await file.close()
  try {
    await rename(from, to)
  } catch (err) {
    throw fsError(err, 'move the verified file into place at', to)
  }
  // Test hook only: apps/cli/test/power-cut.test.ts shows that without this fsync a power
  // cut right after `done` can lose the rename.
  if (process.env.HAUL_TEST_SKIP_DIR_FSYNC === '1') return
  const dir = await open(dirname(to), 'r').catch((err: unknown) => {
    throw fsError(err, 'open the destination directory', dirname(to))
  })
  try {
    await dir.sync()
  } catch (err) {
    throw fsError(err, 'flush the destination directory (fsync)', dirname(to))
  } finally {
    await dir.close()
  }
}
