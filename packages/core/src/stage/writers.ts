import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_FOREIGN_STAGE_GRACE_MS } from '../defaults.js'
import { kernelBootId } from './boot-id.js'

/** Prefix of every writer's directory inside the staging root. */
export const WRITER_PREFIX = 'w.'

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

/** The hostname alone, as older haul versions named writer directories (still recognised). */
const HOSTNAME = hostname().replace(/[^A-Za-z0-9-]/g, '_')

/**
 * This host in a writer's directory name: the hostname and a tag of this boot and pid namespace.
 * A pid says whether a writer lives only in the pid namespace of the same boot of the same
 * machine; hostnames collide (containers with the host's network share its hostname, hosts of a
 * fleet may all be called `runner`), and on a folder those share, a live writer elsewhere must
 * never look dead here, or its partial would get a second writer.
 */
const HOST = hostTag()

function hostTag(): string {
  const boot = kernelBootId()
  let pids = ''
  try {
    pids = readlinkSync('/proc/self/ns/pid')
  } catch {
    // no pid namespaces to tell apart here
  }
  if (boot === '' && pids === '') return HOSTNAME
  return `${HOSTNAME}-${createHash('sha256').update(`${boot} ${pids}`).digest('hex').slice(0, 8)}`
}

/** This process's start time, read once: a batch names a writer directory per file. */
let ownStart: string | undefined

function ownStartTime(): string {
  return (ownStart ??= processStartTime(process.pid) ?? '0')
}

/**
 * The tag part of this module's writer names: random once, then counted. Host, pid and start time
 * already tell this process from every other; the random part tells apart the worker threads of
 * one process (each loads its own copy of this module), the count the names of one thread.
 */
let tagPrefix: string | undefined
let tagCount = 0

/** A new writer directory name: this host, this process (pid + start time), a tag never used before here. */
export function writerName(): string {
  const start = ownStartTime()
  return `${WRITER_PREFIX}${HOST}.${process.pid}.${start}.${(tagPrefix ??= randomBytes(4).toString('hex'))}${(tagCount++).toString(16)}`
}

/**
 * Ending of a writer's lone partial: a new writer's data file, `w.….part` in the staging root,
 * before the writer has a folder. The folder is made (and the data moved into it) only when the
 * journal goes to disk; a small file whose body arrives in one piece commits without either.
 */
export const LONE_SUFFIX = '.part'

/** The writer name of a lone partial's file name, if `entry` is one. */
export function lonePartialWriter(entry: string): string | undefined {
  if (!entry.endsWith(LONE_SUFFIX)) return undefined
  const name = entry.slice(0, -LONE_SUFFIX.length)
  return parseWriterName(name) === undefined ? undefined : name
}

/** Who named a writer directory. */
export interface WriterId {
  host: string
  pid: number
  start: string
}

/** The writer named in a directory name, if it is one. */
export function parseWriterName(name: string): WriterId | undefined {
  const m = /^w\.([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.[0-9a-f]+$/.exec(name)
  return m === null ? undefined : { host: m[1]!, pid: Number(m[2]), start: m[3]! }
}

/** Writer directories that a transaction in this process is using right now. */
const IN_USE = new Set<string>()

/** Marks a writer directory of this process as in use (true) or free for adoption (false). */
export function markInUse(name: string, inUse: boolean): void {
  if (inUse) IN_USE.add(name)
  else IN_USE.delete(name)
}

/**
 * Whether the writer is on another host (or container) sharing the folder, whose process can't
 * be looked up from here. A bare hostname is a writer of an older haul on this machine.
 */
export function writerIsForeign(id: WriterId): boolean {
  return id.host !== HOST && id.host !== HOSTNAME
}

/**
 * Whether nothing in a foreign writer's directory `dir` (the folder, its journal, its data) has
 * changed for `graceMs`: a live writer journals its progress every few milliseconds while bytes
 * flow. The times are the file server's; `graceMs` leaves room for its clock and ours to differ.
 */
export async function foreignWriterIsStale(dir: string, graceMs: number, now = Date.now()): Promise<boolean> {
  const times = await Promise.all(['', 'journal', 'data'].map((name) => stat(join(dir, name)).then((st) => st.mtimeMs, () => 0)))
  return now - Math.max(...times) > graceMs
}

/** Whether the writer that named a staging directory is certainly gone. */
export function writerIsDead(id: WriterId, name: string): boolean {
  // Another host (or container) on a shared filesystem: can't tell, leave it. A bare hostname is
  // a writer of an older haul on this machine, judged by its pid as before.
  if (writerIsForeign(id)) return false
  if (id.pid === process.pid) return id.start !== ownStartTime() || !IN_USE.has(name)
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

/**
 * Whether the writer of the staging directory `dir` (named `name`) counts as gone: dead on this
 * host, or of another host and idle for {@link DEFAULT_FOREIGN_STAGE_GRACE_MS}.
 */
export async function writerIsGone(id: WriterId, name: string, dir: string): Promise<boolean> {
  return writerIsDead(id, name) || (writerIsForeign(id) && (await foreignWriterIsStale(dir, DEFAULT_FOREIGN_STAGE_GRACE_MS)))
}
