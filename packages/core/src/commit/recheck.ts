import type { Stats } from 'node:fs'
import { dirname } from 'node:path'
import { filesystemKind, statIdentityHolds } from '../lock/fs-kind.js'
import { isGone } from '../fs-race.js'
import { findMismatch, type ExpectedDigest } from '../verify/digest.js'
import { hashFile } from '../verify/hasher.js'
import { folderCalls } from '../stage/folder-calls.js'
import { recordDescribes, type CommitRecord } from './commit-record.js'

/** Times the file may be replaced under a re-check's read before it counts as not there. */
const MAX_REPLACED_READS = 5

/**
 * Whether the file `destination` already holds what was asked for: the record left by the
 * previous holder names the same source and the file is still that file (where stat can't
 * tell, on a network FUSE filesystem such as sshfs, its bytes are read to make sure); or the file's bytes
 * match an expected digest, or the record's SHA-256 (the file was replaced by the same bytes:
 * another host committed them too, where locks don't span hosts). Returns the file's size and
 * SHA-256 when it does.
 *
 * On a shared folder another host may replace the file while it is read (its commit rename; its
 * filesystem may then answer ENOENT or ESTALE for the old file): then it is looked at again.
 * `found`: the destination's stat taken as its lock was (`HeldDestination.found`), the first look.
 */
export async function recheckDestination(
  destination: string,
  sourceId: string,
  expected: ReadonlyArray<ExpectedDigest>,
  record: CommitRecord | undefined,
  expectedSize: number | undefined,
  hashThread: boolean,
  found: Stats | undefined,
): Promise<{ size: number; sha256: string } | undefined> {
  const calls = folderCalls(dirname(destination))
  for (let read = 0; read < MAX_REPLACED_READS; read++) {
    const st = read === 0 ? found : await calls.statIfAny(destination)
    if (st === undefined || !st.isFile()) return undefined
    if (expectedSize !== undefined && st.size !== expectedSize) return undefined
    const committed = record !== undefined && record.source === sourceId && record.size === st.size && findMismatch(expected, record.digests) === undefined ? record.digests.sha256 : undefined
    if (committed !== undefined && recordDescribes(record!, st) && statIdentityHolds(await filesystemKind(dirname(destination)))) return { size: st.size, sha256: committed }
    if (expected.length === 0 && committed === undefined) return undefined
    const digests = await hashFile(destination, expected.map((e) => e.algorithm), undefined, hashThread).catch((err: unknown) => {
      if (isGone(err)) return undefined
      throw err
    })
    if (digests === undefined) continue
    const same = expected.length > 0 ? findMismatch(expected, digests) === undefined : digests.sha256 === committed
    return same ? { size: st.size, sha256: digests.sha256 } : undefined
  }
  return undefined
}
