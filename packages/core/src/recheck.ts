import { stat } from 'node:fs/promises'
import { findMismatch, type DigestAlgorithm, type ExpectedDigest } from './digest.js'
import { hashFile } from './hasher.js'

/**
 * What a lock holder hands to the processes waiting behind it after a commit: enough to tell,
 * without a request, that the destination now holds what they were about to fetch.
 */
export interface CommitRecord {
  source: string
  size: number
  digests: Partial<Record<DigestAlgorithm, string>>
  dev: number
  ino: number
  mtimeMs: number
}

export function parseCommitRecord(text: string | undefined): CommitRecord | undefined {
  if (text === undefined || text === '') return undefined
  try {
    const r = JSON.parse(text) as CommitRecord
    return typeof r.source === 'string' && typeof r.ino === 'number' ? r : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether `destination` already holds what was asked for: the record left by the previous
 * holder names the same source and the file is still that file; or an expected digest was given
 * and the file's bytes match it. Returns the file's size and digests when it does.
 */
export async function recheckDestination(
  destination: string,
  sourceId: string,
  expected: ReadonlyArray<ExpectedDigest>,
  handedOver: string | undefined,
  expectedSize: number | undefined,
): Promise<{ size: number; sha256: string } | undefined> {
  const st = await stat(destination).catch(() => undefined)
  if (st === undefined || !st.isFile()) return undefined
  if (expectedSize !== undefined && st.size !== expectedSize) return undefined
  const record = parseCommitRecord(handedOver)
  if (
    record !== undefined &&
    record.source === sourceId &&
    record.ino === st.ino &&
    record.dev === st.dev &&
    record.size === st.size &&
    record.mtimeMs === st.mtimeMs &&
    record.digests.sha256 !== undefined &&
    findMismatch(expected, record.digests) === undefined
  ) {
    return { size: st.size, sha256: record.digests.sha256 }
  }
  if (expected.length === 0) return undefined
  const digests = await hashFile(destination, expected.map((e) => e.algorithm))
  return findMismatch(expected, digests) === undefined ? { size: st.size, sha256: digests.sha256 } : undefined
}
