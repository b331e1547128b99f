import { stat } from 'node:fs/promises'
import { findMismatch, type ExpectedDigest } from '../verify/digest.js'
import { hashFile } from '../verify/hasher.js'
import { recordDescribes, type CommitRecord } from './commit-record.js'

/**
 * Whether the file `destination` already holds what was asked for: the record left by the
 * previous holder names the same source and the file is still that file; or an expected digest
 * was given and the file's bytes match it. Returns the file's size and digests when it does.
 */
export async function recheckDestination(
  destination: string,
  sourceId: string,
  expected: ReadonlyArray<ExpectedDigest>,
  record: CommitRecord | undefined,
  expectedSize: number | undefined,
  hashThread: boolean,
): Promise<{ size: number; sha256: string } | undefined> {
  const st = await stat(destination).catch(() => undefined)
  if (st === undefined || !st.isFile()) return undefined
  if (expectedSize !== undefined && st.size !== expectedSize) return undefined
  if (
    record !== undefined &&
    record.source === sourceId &&
    recordDescribes(record, st) &&
    record.size === st.size &&
    record.digests.sha256 !== undefined &&
    findMismatch(expected, record.digests) === undefined
  ) {
    return { size: st.size, sha256: record.digests.sha256 }
  }
  if (expected.length === 0) return undefined
  const digests = await hashFile(destination, expected.map((e) => e.algorithm), undefined, hashThread)
  return findMismatch(expected, digests) === undefined ? { size: st.size, sha256: digests.sha256 } : undefined
}
