// A host-local copy of the commit record a lock holder hands to its waiters, for folders on a
// network filesystem. There the record written into the locked lock file does not always reach
// a waiter on the same host: sshfs (like any path-based FUSE filesystem) gives the kernel inode
// that is locked the identity of the *name*, not of the server's file. When another host
// replaces the lock file (its holder unlinks it, a newcomer there creates a fresh one), this
// host's inode starts describing the fresh, empty file, and the kernel cuts a waiter's read of
// the old file — whose server handle still holds the record — at that size: it reads nothing,
// and downloads again what its holder had just committed. Where the lock is host-local (sshfs,
// SMB with `nobrl`), a host-local hand-over is all that is needed. Where it spans hosts (NFS), a
// waiter behind another host's holder usually finds no copy recent enough here and reads the
// lock file as before. Either way a record is only believed for the file it describes (see
// recheck.ts).
import { createHash } from 'node:crypto'
import { lstat, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A copy written this long before the waiter began acquiring still counts: a holder writes its
 * copy just before it lets go, possibly a moment before a newcomer finds the lock held.
 */
export const HOST_RECORD_GRACE_MS = 2000

/** Copies older than this are removed by the next holder that writes one. */
const HOST_RECORD_TTL_MS = 10 * 60 * 1000

/** What is stored: the record and when it was handed over (this host's clock). */
interface HostRecordFile {
  at: number
  record: string
}

/**
 * The folder of this user's copies, made private on first use. Undefined (no copies) unless it
 * and its parent are folders of ours that nobody else can write: a record there decides whether
 * a download runs.
 */
async function recordsDir(): Promise<string | undefined> {
  const uid = process.getuid?.()
  const parent = join(tmpdir(), `haul-${uid ?? 'user'}`)
  const dir = join(parent, 'handover')
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => undefined)
  for (const path of [parent, dir]) {
    const st = await lstat(path).catch(() => undefined)
    if (st === undefined || !st.isDirectory() || (st.mode & 0o022) !== 0) return undefined
    if (uid !== undefined && st.uid !== uid) return undefined
  }
  return dir
}

function recordName(lockPath: string): string {
  return `${createHash('sha256').update(lockPath).digest('hex').slice(0, 40)}.json`
}

/**
 * Leaves `record` for this host's next holder of `lockPath` (absolute), replacing the previous
 * copy in one rename; no record removes the copy (a holder that committed nothing must not let
 * an earlier commit's record stand in for its own). Best effort: a copy that can't be written
 * costs a waiter a download, never correctness (the record is checked against the file).
 */
export async function writeHostRecord(lockPath: string, record: string | undefined): Promise<void> {
  const dir = await recordsDir()
  if (dir === undefined) return
  const path = join(dir, recordName(lockPath))
  if (record === undefined || record === '') return void (await unlink(path).catch(() => undefined))
  const temporary = `${path}.${process.pid}.tmp`
  const content: HostRecordFile = { at: Date.now(), record }
  try {
    await writeFile(temporary, JSON.stringify(content), { mode: 0o600 })
    await rename(temporary, path)
  } catch {
    await unlink(temporary).catch(() => undefined)
  }
  await removeExpired(dir)
}

/**
 * The record this host's last holder of `lockPath` left, if it was handed over at `since` or
 * later; a copy from before then belongs to an earlier commit than the one waited for.
 */
export async function readHostRecord(lockPath: string, since: number): Promise<string | undefined> {
  const dir = await recordsDir()
  if (dir === undefined) return undefined
  const text = await readFile(join(dir, recordName(lockPath)), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const parsed = JSON.parse(text) as Partial<HostRecordFile>
    return typeof parsed.at === 'number' && parsed.at >= since && typeof parsed.record === 'string' && parsed.record !== '' ? parsed.record : undefined
  } catch {
    return undefined
  }
}

/** Removes copies (and temporaries of killed writers) nobody has replaced for the TTL. */
async function removeExpired(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[])
  const now = Date.now()
  for (const name of names) {
    const path = join(dir, name)
    const st = await stat(path).catch(() => undefined)
    // Another holder may remove the same copy first: nothing to do then.
    if (st !== undefined && now - st.mtimeMs > HOST_RECORD_TTL_MS) await unlink(path).catch(() => undefined)
  }
}
