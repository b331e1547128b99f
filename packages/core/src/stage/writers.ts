import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'

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

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_')

/** A new writer directory name: this host, this process (pid + start time), a random tag. */
export function writerName(): string {
  const start = processStartTime(process.pid) ?? '0'
  return `${WRITER_PREFIX}${HOST}.${process.pid}.${start}.${randomBytes(4).toString('hex')}`
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

/** Whether the writer that named a staging directory is certainly gone. */
export function writerIsDead(id: WriterId, name: string): boolean {
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
