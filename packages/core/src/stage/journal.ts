import { open, type FileHandle } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { bootId } from './boot-id.js'
import type { FolderCalls } from './folder-calls.js'
import { RangeSet } from './range-set.js'

/**
 * The journal beside a partial download: which source the bytes belong to and which byte ranges
 * are written. One record a line: `JSON<TAB>crc32hex`. A torn or corrupt line ends the journal
 * (it and everything after it are ignored, never trusted).
 *
 * A data record claims bytes only after their write returned. Whether a claim may be trusted
 * depends on what can have happened to the page cache since: the journal names the boot it was
 * written in (the kernel's boot id), and a `sync` record says which claims a datasync of the
 * partial file covered. During the same boot the page cache holds whatever a killed writer wrote,
 * so every claim counts; after a reboot (a power cut, a crash) only the synced claims do. So a
 * SIGKILL loses nothing recorded and a power cut can't make resume trust bytes that never reached
 * the disk, without an fsync per chunk and without reading the partial back.
 */

export const JOURNAL_VERSION = 2

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
  /** The boot the records after the head were written in (see {@link bootId}). */
  boot: string
}

/** What a source said about the remote, when it changes after the head was written. */
export interface InfoRecord {
  t: 'info'
  label: string
  validator?: string
  size?: number
}

/** Bytes [s, e) are written (their write returned). */
export interface DataRecord {
  t: 'data'
  s: number
  e: number
}

/** The first `n` data records of the journal (counted from the head) are on disk: a datasync covered them. */
export interface SyncRecord {
  t: 'sync'
  n: number
}

/** The records after this one are written in another boot than those before it (a writer adopted the journal after a reboot). */
export interface BootRecord {
  t: 'boot'
  id: string
}

export type JournalRecord = HeadRecord | InfoRecord | DataRecord | SyncRecord | BootRecord

/**
 * node:zlib's crc32, loaded at the first journal line read or written, not at start-up: a small
 * file's transaction has none, and loading zlib costs each start a few milliseconds.
 */
let zlibCrc32: ((data: string) => number) | undefined

/** A line's check: crc32 of its JSON, 8 hex digits. */
function lineCheck(json: string): string {
  zlibCrc32 ??= (createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib')).crc32
  return zlibCrc32(json).toString(16).padStart(8, '0')
}

function encode(record: JournalRecord): string {
  return encodeLine(JSON.stringify(record))
}

/** A record's line, from its JSON. */
function encodeLine(json: string): string {
  return `${json}\t${lineCheck(json)}\n`
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
    if (lineCheck(json) !== line.slice(tab + 1)) break
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
    return h.v === JOURNAL_VERSION && typeof h.source === 'string' && typeof h.expected === 'string' && typeof h.validators === 'object' && h.validators !== null && typeof h.boot === 'string'
  }
  if (t === 'data') {
    const d = r as DataRecord
    return Number.isSafeInteger(d.s) && Number.isSafeInteger(d.e) && d.s >= 0 && d.e > d.s
  }
  if (t === 'info') return typeof (r as InfoRecord).label === 'string'
  if (t === 'sync') return Number.isSafeInteger((r as SyncRecord).n) && (r as SyncRecord).n >= 0
  if (t === 'boot') return typeof (r as BootRecord).id === 'string'
  return false
}

/** A data record as folded: the boot it was written in, and whether a datasync covered it. */
export interface Claim {
  s: number
  e: number
  boot: string
  synced: boolean
}

/** What a journal says, folded: the head with later info applied, and the claimed ranges. */
export interface JournalState {
  head: HeadRecord
  claims: Claim[]
  /** The boot the last records were written in. */
  boot: string
}

export function foldJournal(records: ReadonlyArray<JournalRecord>): JournalState | undefined {
  const first = records[0]
  if (first === undefined || first.t !== 'head') return undefined
  const head: HeadRecord = { ...first, validators: { ...first.validators } }
  const claims: Claim[] = []
  let boot = head.boot
  for (const r of records.slice(1)) {
    if (r.t === 'data') claims.push({ s: r.s, e: r.e, boot, synced: false })
    else if (r.t === 'sync') for (const claim of claims.slice(0, r.n)) claim.synced = true
    else if (r.t === 'boot') boot = r.id
    else if (r.t === 'info') {
      if (r.validator !== undefined) head.validators[r.label] = r.validator
      if (r.size !== undefined) head.size = r.size
    }
  }
  return { head, claims, boot }
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

/**
 * The ranges of the partial file its journal vouches for: every claim of the running boot (the
 * page cache still holds those bytes), and claims of an earlier boot that a datasync covered;
 * none past the file's end (a file truncated behind the journal's back).
 */
export async function trustedRanges(data: FileHandle, state: JournalState): Promise<RangeSet> {
  const trusted = new RangeSet()
  const { size: fileSize } = await data.stat()
  const boot = bootId()
  for (const claim of state.claims) if (claim.e <= fileSize && (claim.synced || claim.boot === boot)) trusted.add(claim.s, claim.e)
  return trusted
}

/**
 * Appends records to a journal file, one at a time, in order. A journal made with
 * {@link JournalWriter.deferred} is not on disk until a record needs it there: the stage of a file
 * whose whole body arrives in one record commits without ever writing one (see StagedFile.record).
 */
export class JournalWriter {
  readonly path: string
  /** Undefined while deferred: nothing on disk yet. */
  #file: FileHandle | undefined
  /**
   * A deferred journal's records as JSON, held until it goes to disk: their checks are computed
   * then (a small file's journal never is, and its crc32 would load node:zlib).
   */
  #held: string[] | undefined
  readonly #calls: Pick<FolderCalls, 'writeText'>
  /** Runs before a deferred journal's file is created (its writer's folder may not be made yet). */
  readonly #beforeCreate: (() => Promise<void>) | undefined
  #queue: Promise<void> = Promise.resolve()
  #failure: unknown
  /** Lines queued behind the write in flight: they go out together, in one write, when it ends. */
  #batch: string[] | undefined

  private constructor(path: string, calls: Pick<FolderCalls, 'writeText'>, file: FileHandle | undefined, held?: string[], beforeCreate?: () => Promise<void>) {
    this.path = path
    this.#calls = calls
    this.#file = file
    this.#held = held
    this.#beforeCreate = beforeCreate
  }

  /**
   * A new journal, its head held in memory: the file is created, with everything held, by the
   * first write not held, right after `beforeCreate` (which makes the folder it goes in).
   */
  static deferred(path: string, head: HeadRecord, calls: Pick<FolderCalls, 'writeText'>, beforeCreate?: () => Promise<void>): JournalWriter {
    return new JournalWriter(path, calls, undefined, [JSON.stringify(head)], beforeCreate)
  }

  /** Opens an existing journal for appending. `calls`: how its folder's files are written. */
  static async append(path: string, calls: Pick<FolderCalls, 'writeText'>): Promise<JournalWriter> {
    return new JournalWriter(path, calls, await open(path, 'a'))
  }

  /** Whether the journal is on disk, or will be once the writes queued now are done. */
  get written(): boolean {
    return this.#held === undefined
  }

  /**
   * Queues a record; resolves when it is written. Records that arrive while a write is in flight
   * are appended together by the next write (one call instead of one each; a write goes through
   * the thread pool only on a network folder, see FolderCalls).
   * `hold`: while the journal is deferred, keep the record with the held ones instead.
   */
  write(record: JournalRecord, hold = false): Promise<void> {
    if (this.#held !== undefined && hold) {
      this.#held.push(JSON.stringify(record))
      return this.#queue
    }
    const encoded = encode(record)
    if (this.#batch !== undefined) {
      this.#batch.push(encoded)
      return this.#settled()
    }
    const lines = [...(this.#held ?? []).map(encodeLine), encoded]
    this.#held = undefined
    return this.#enqueue(lines)
  }

  /** Puts a deferred journal on disk with what it holds (a partial kept for resume needs it). */
  flush(): Promise<void> {
    const held = this.#held
    if (held === undefined) return this.#queue
    this.#held = undefined
    return this.#enqueue(held.map(encodeLine))
  }

  /** Queues one write of `lines` (and of lines batched behind it), creating the file if it isn't yet. */
  #enqueue(lines: string[]): Promise<void> {
    this.#batch = lines
    this.#queue = this.#queue.then(async () => {
      this.#batch = undefined
      if (this.#failure !== undefined) return
      try {
        if (this.#file === undefined) {
          await this.#beforeCreate?.()
          this.#file = await open(this.path, 'w')
        }
        await this.#calls.writeText(this.#file, lines.join(''))
      } catch (err) {
        this.#failure = err
      }
    })
    return this.#settled()
  }

  /** Resolves when the queued writes are done; rejects if one failed. */
  #settled(): Promise<void> {
    return this.#queue.then(() => {
      if (this.#failure !== undefined) throw this.#failure
    })
  }

  /** Starts over with a new head (the partial data was truncated). */
  async reset(head: HeadRecord): Promise<void> {
    await this.#queue
    if (this.#file === undefined) {
      this.#held = [JSON.stringify(head)]
      return
    }
    await this.#file.truncate(0)
    await this.#file.close()
    this.#file = await open(this.path, 'w')
    await this.#calls.writeText(this.#file, encode(head))
  }

  /** Closes the file; what a deferred journal still holds is dropped (flush() first to keep it). */
  async close(): Promise<void> {
    await this.#queue
    this.#held = undefined
    await this.#file?.close()
  }
}
