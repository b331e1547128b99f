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

/** The one xxhash64 instance behind every range checksum of the process (see {@link RangeChecksum}). */
let engine: Promise<IHasher> | undefined

function rangeEngine(): Promise<IHasher> {
  engine ??= createXXHash64()
  engine.catch(() => (engine = undefined))
  return engine
}

/** Loads the range checksum's code now (while a request is on its way), so the first record does not wait for it. */
export function preloadRangeChecksum(): void {
  rangeEngine().catch(() => undefined)
}

/** A fast, non-cryptographic checksum of data ranges (xxhash64). */
export async function createRangeChecksum(): Promise<IHasher> {
  return new RangeChecksum(await rangeEngine())
}

/**
 * A range checksum of its own on the shared WebAssembly instance: instantiating one per download
 * cost about 0.2 ms of every small file of a batch. Calls are synchronous, so the instance only
 * needs this checksum's state when it is this checksum's turn: the state of the one that used it
 * last is saved then (xxhash64's state is under 100 bytes), and this one's loaded.
 */
class RangeChecksum implements IHasher {
  static #owner: RangeChecksum | undefined
  readonly #engine: IHasher
  /** Saved while another checksum has the instance; undefined: the initial state. */
  #state: Uint8Array | undefined
  /** After digest() until init(): nothing to save (hash-wasm can't save then). */
  #spent = false

  constructor(engine: IHasher) {
    this.#engine = engine
  }

  get blockSize(): number {
    return this.#engine.blockSize
  }

  get digestSize(): number {
    return this.#engine.digestSize
  }

  init(): IHasher {
    this.#state = undefined
    this.#spent = false
    this.#take(true)
    return this
  }

  update(data: Parameters<IHasher['update']>[0]): IHasher {
    this.#take(false).update(data)
    return this
  }

  digest(outputType: 'binary'): Uint8Array
  digest(outputType?: 'hex'): string
  digest(outputType?: 'binary' | 'hex'): Uint8Array | string {
    const engine = this.#take(false)
    this.#spent = true
    return outputType === 'binary' ? engine.digest('binary') : engine.digest('hex')
  }

  save(): Uint8Array {
    return this.#take(false).save()
  }

  load(state: Uint8Array): IHasher {
    this.#spent = false
    this.#state = state
    if (RangeChecksum.#owner === this) this.#engine.load(state)
    return this
  }

  /** The instance, holding this checksum's state (the initial one when `fresh`). */
  #take(fresh: boolean): IHasher {
    const owner = RangeChecksum.#owner
    if (owner !== this) {
      if (owner !== undefined && !owner.#spent) owner.#state = this.#engine.save()
      RangeChecksum.#owner = this
      if (!fresh && this.#state !== undefined) this.#engine.load(this.#state)
      else this.#engine.init()
    } else if (fresh) this.#engine.init()
    return this.#engine
  }
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

/**
 * Appends records to a journal file, one at a time, in order. A journal made with
 * {@link JournalWriter.deferred} is not on disk until a record needs it there: the stage of a file
 * whose whole body arrives in one record commits without ever writing one (see StagedFile.record).
 */
export class JournalWriter {
  readonly path: string
  /** Undefined while deferred: nothing on disk yet. */
  #file: FileHandle | undefined
  /** A deferred journal's lines, held until it goes to disk. */
  #held: string[] | undefined
  #queue: Promise<void> = Promise.resolve()
  #failure: unknown
  /** Lines queued behind the write in flight: they go out together, in one write, when it ends. */
  #batch: string[] | undefined

  private constructor(path: string, file: FileHandle | undefined, held?: string[]) {
    this.path = path
    this.#file = file
    this.#held = held
  }

  /** A new journal, its head held in memory: the file is created, with everything held, by the first write not held. */
  static deferred(path: string, head: HeadRecord): JournalWriter {
    return new JournalWriter(path, undefined, [encode(head)])
  }

  /** Opens an existing journal for appending. */
  static async append(path: string): Promise<JournalWriter> {
    return new JournalWriter(path, await open(path, 'a'))
  }

  /** Whether the journal is on disk, or will be once the writes queued now are done. */
  get written(): boolean {
    return this.#held === undefined
  }

  /**
   * Queues a record; resolves when it is written. Records that arrive while a write is in flight
   * are appended together by the next write (one call to the thread pool instead of one each).
   * `hold`: while the journal is deferred, keep the record with the held ones instead.
   */
  write(record: JournalRecord, hold = false): Promise<void> {
    const line = encode(record)
    if (this.#held !== undefined && hold) {
      this.#held.push(line)
      return this.#queue
    }
    if (this.#batch !== undefined) this.#batch.push(line)
    else {
      const lines = [...(this.#held ?? []), line]
      this.#held = undefined
      this.#batch = lines
      this.#queue = this.#queue.then(async () => {
        this.#batch = undefined
        if (this.#failure !== undefined) return
        try {
          this.#file ??= await open(this.path, 'w')
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

  /** Puts a deferred journal on disk with what it holds (a partial kept for resume needs it). */
  async flush(): Promise<void> {
    const held = this.#held
    if (held === undefined) return this.#queue
    this.#held = undefined
    await this.#queue
    const file = await open(this.path, 'w')
    this.#file = file
    await file.write(held.join(''))
  }

  /** Starts over with a new head (the partial data was truncated). */
  async reset(head: HeadRecord): Promise<void> {
    await this.#queue
    if (this.#file === undefined) {
      this.#held = [encode(head)]
      return
    }
    await this.#file.truncate(0)
    await this.#file.close()
    this.#file = await open(this.path, 'w')
    await this.#file.write(encode(head))
  }

  /** Closes the file; what a deferred journal still holds is dropped (flush() first to keep it). */
  async close(): Promise<void> {
    await this.#queue
    this.#held = undefined
    await this.#file?.close()
  }
}
