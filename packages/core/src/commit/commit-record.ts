import type { Stats } from 'node:fs'
import type { DigestAlgorithm } from '../verify/digest.js'

/**
 * What a lock holder hands to the processes waiting behind it after a commit: enough to tell,
 * without a request, that the destination now holds what they were about to fetch.
 */
export interface CommitRecord {
  /** The identity of what was committed (the primary source's id: a URL, an ipfs:// path). */
  source: string
  /** Bytes committed: the file's size, or the sum of a folder's files. */
  size: number
  /** The file's digests, or for a folder the SHA-256 of its manifest. */
  digests: Partial<Record<DigestAlgorithm, string>>
  dev: number
  ino: number
  mtimeMs: number
}

/** What a stage committed, before the shell adds the identity of the file or folder on disk. */
export type Committed = Pick<CommitRecord, 'source' | 'size' | 'digests'>

export function parseCommitRecord(text: string | undefined): CommitRecord | undefined {
  if (text === undefined || text === '') return undefined
  try {
    const r = JSON.parse(text) as CommitRecord
    return typeof r.source === 'string' && typeof r.ino === 'number' ? r : undefined
  } catch {
    return undefined
  }
}

/** Whether `st` is still the very file or folder the record was made for (not replaced, not modified). */
export function recordDescribes(record: CommitRecord, st: Stats): boolean {
  return record.ino === st.ino && record.dev === st.dev && record.mtimeMs === st.mtimeMs
}
