import type { Stats } from 'node:fs'
import { dirname } from 'node:path'
import { folderCalls } from '../stage/folder-calls.js'
import { hashFile } from '../verify/hasher.js'

/**
 * Whether someone else committed these very bytes at `destination` while this writer was
 * downloading them, so that the first commit wins and ours is dropped: the destination is no
 * longer what it was when the lock was taken (`found`), it is a file of our size, and its SHA-256
 * is ours. Only a writer the lock did not exclude can have done that: another host sharing the
 * folder where locks don't span hosts (sshfs, SMB with `nobrl`, NFS with `local_lock`), or a
 * process using the other lock kind. Renaming ours over it would change nothing but the inode,
 * which readers there may hold open (NFS answers ESTALE to them) and which the commit records
 * handed to their waiters name. Costs one read of the file, and only in that race.
 */
export async function landedMeanwhile(destination: string, found: Stats | undefined, size: number, sha256: string, hashThread = true): Promise<boolean> {
  const now = await folderCalls(dirname(destination)).statIfAny(destination)
  if (now === undefined || !now.isFile() || now.size !== size) return false
  if (found !== undefined && found.ino === now.ino && found.dev === now.dev && found.mtimeMs === now.mtimeMs && found.size === now.size) return false
  // Can't read theirs (replaced again while we read it, or unreadable): commit ours, as always.
  const theirs = await hashFile(destination, [], undefined, hashThread).catch(() => undefined)
  return theirs?.sha256 === sha256
}
