import { open, type FileHandle } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import type { IHasher } from 'hash-wasm'
import { createXXHash64 } from '../verify/wasm-hashers.js'
import { RangeSet } from './range-set.js'

/**
 * The journal beside a partial download: which source the bytes belong to and which byte ranges
 * are written. One record a line: `JSON<TAB>crc32hex`. A torn or corrupt line ends the journal
 * (it and everything after it are ignored, never trusted).
 *
 * A data record claims bytes only after their write returned, and carries an xxhash64 of them;
 * resume re-checks it against the partial file. So a SIGKILL (page cache survives) loses nothing
 * recorded, and a power cut (page cache lost) can't make resume trust bytes that never reached
 * the disk — without an fsync per chunk.
 */

export const JOURNAL_VERSION = 1

/** First record: what the partial file belongs to. */
export interface HeadRecord {
  t: 'head'
  v: number
  /** Source identity (URL, CID) the bytes came from. */
  source: string
  /** describeExpected() of the expected digests ('' when none). */
  expected: string
  /** Total size when known. */
  size?: number
  /** Validator (ETag, Last-Modified, CID) per source label. */
  validators: Record<string, string>
  created: string
}

/** What a source said about the remote, when it changes after the head was written. */
export interface InfoRecord {
  t: 'info'
  label: string
  validator?: string
  size?: number
}

/** Bytes [s, e) are written; x = xxhash64 of them (hex). */
export interface DataRecord {
  t: 'data'
  s: number
  e: number
  x: string
}

export type JournalRecord = HeadRecord | InfoRecord | DataRecord

function encode(record: JournalRecord): string {
  const json = JSON.stringify(record)
  return `${json}\t${crc32(json).toString(16).padStart(8, '0')}\n`
}

/** Parses journal text: the records up to the first torn or corrupt line. */
export function decodeJournal(text: string): JournalRecord[] {
  const out: JournalRecord[] = []
  let at = 0
  while (at < text.length) {
    const nl = text.indexOf('\n', at)
    if (nl < 0) break
    const line = text.slice(at, nl)
    at = nl + 1
    const tab = line.lastIndexOf('\t')
    if (tab < 0) break
    const json = line.slice(0, tab)
    if (crc32(json).toString(16).padStart(8, '0') !== line.slice(tab + 1)) break
    let record: unknown
    try {
      record = JSON.parse(json)
    } catch {
      break
    }
    if (!isRecord(record)) break
    if (out.length === 0 && record.t !== 'head') break
    out.push(record)
  }
  return out
}

function isRecord(r: unknown): r is JournalRecord {
  if (typeof r !== 'object' || r === null) return false
  const t = (r as { t?: unknown }).t
  if (t === 'head') {
    const h = r as HeadRecord
    return h.v === JOURNAL_VERSION && typeof h.source === 'string' && typeof h.expected === 'string' && typeof h.validators === 'object' && h.validators !== null
  }
  if (t === 'data') {
    const d = r as DataRecord
    return Number.isSafeInteger(d.s) && Number.isSafeInteger(d.e) && d.s >= 0 && d.e > d.s && typeof d.x === 'string'
  }
  if (t === 'info') return typeof (r as InfoRecord).label === 'string'
  return false
}

/** What a journal says, folded: the head with later info applied, and the claimed ranges. */
export interface JournalState {
  head: HeadRecord
  claims: DataRecord[]
}

export function foldJournal(records: ReadonlyArray<JournalRecord>): JournalState | undefined {
  const first = records[0]
  if (first === undefined || first.t !== 'head') return undefined
  const head: HeadRecord = { ...first, validators: { ...first.validators } }
  const claims: DataRecord[] = []
  for (const r of records.slice(1)) {
    if (r.t === 'data') claims.push(r)
    else if (r.t === 'info') {
      if (r.validator !== undefined) head.validators[r.label] = r.validator
      if (r.size !== undefined) head.size = r.size
    }
  }
  return { head, claims }
}

/** Reads and folds a journal file; undefined when missing or unusable. */
export async function readJournal(path: string): Promise<JournalState | undefined> {
  let text: string
  try {
    const file = await open(path, 'r')
    try {
      text = await file.readFile('utf8')
    } finally {
      await file.close()
    }
  } catch {
    return undefined
  }
  return foldJournal(decodeJournal(text))
}

/** Loads the range checksum's code now (while a request is on its way), so the first record does not wait for it. */
export function preloadRangeChecksum(): void {
  createXXHash64().catch(() => undefined)
}

/** A fast, non-cryptographic checksum of data ranges (xxhash64). */
export async function createRangeChecksum(): Promise<IHasher> {
  const h = await createXXHash64()
  h.init()
  return h
}

/**
 * Re-checks every claimed range against the partial file; only ranges whose bytes are still
 * what was written count. Returns the verified ranges.
 */
export async function verifyClaims(data: FileHandle, claims: ReadonlyArray<DataRecord>, signal?: AbortSignal): Promise<RangeSet> {
  const verified = new RangeSet()
  const { size: fileSize } = await data.stat()
  const checksum = await createRangeChecksum()
  const buffer = Buffer.allocUnsafe(1024 * 1024)
  for (const claim of claims) {
    signal?.throwIfAborted()
    if (claim.e > fileSize) continue
    checksum.init()
    let at = claim.s
    let ok = true
    while (at < claim.e) {
      const { bytesRead } = await data.read(buffer, 0, Math.min(buffer.length, claim.e - at), at)
      if (bytesRead === 0) {
        ok = false
        break
      }
      checksum.update(buffer.subarray(0, bytesRead))
      at += bytesRead
    }
    if (ok && checksum.digest('hex') === claim.x) verified.add(claim.s, claim.e)
  }
  return verified
}

/** Appends records to a journal file, one at a time, in order. */
export class JournalWriter {
  readonly path: string
  #file: FileHandle
  #queue: Promise<void> = Promise.resolve()
  #failure: unknown
  /** Lines queued behind the write in flight: they go out together, in one write, when it ends. */
  #batch: string[] | undefined

  private constructor(path: string, file: FileHandle) {
    this.path = path
    this.#file = file
  }

  /** Creates (or truncates) the journal and writes its head. */
  static async create(path: string, head: HeadRecord): Promise<JournalWriter> {
    const file = await open(path, 'w')
    await file.write(encode(head))
    return new JournalWriter(path, file)
  }

  /** Opens an existing journal for appending. */
  static async append(path: string): Promise<JournalWriter> {
    return new JournalWriter(path, await open(path, 'a'))
  }

  /**
   * Queues a record; resolves when it is written. Records that arrive while a write is in flight
   * are appended together by the next write (one call to the thread pool instead of one each).
   */
  write(record: JournalRecord): Promise<void> {
    const line = encode(record)
    if (this.#batch !== undefined) this.#batch.push(line)
    else {
      const lines = [line]
      this.#batch = lines
      this.#queue = this.#queue.then(async () => {
        this.#batch = undefined
        if (this.#failure !== undefined) return
        try {
          await this.#file.write(lines.join(''))
        } catch (err) {
          this.#failure = err
        }
      })
    }
    return this.#queue.then(() => {
      if (this.#failure !== undefined) throw this.#failure
    })
  }

  /** Starts over with a new head (the partial data was truncated). */
  async reset(head: HeadRecord): Promise<void> {
    await this.#queue
    await this.#file.truncate(0)
    await this.#file.close()
    this.#file = await open(this.path, 'w')
    await this.#file.write(encode(head))
  }

  async close(): Promise<void> {
    await this.#queue
    await this.#file.close()
  }
}
