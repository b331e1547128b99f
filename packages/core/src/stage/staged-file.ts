import type { FileHandle } from 'node:fs/promises'
import { commitFile, type CommitOptions } from '../commit/commit-file.js'
import { fsError, type HaulError } from '../errors.js'
import { bootId } from './boot-id.js'
import { JOURNAL_VERSION, JournalWriter, type HeadRecord, type JournalRecord } from './journal.js'
import type { FolderCalls } from './folder-calls.js'
import { RangeSet } from './range-set.js'
import { leaveStage, makeStageFolder, openStage, removeStage, type Stage } from './stage.js'

/**
 * What a download says about itself when it opens its stage. A dead writer's partial belongs to
 * the destination, not to a URL string or a digest's text: it is adopted whenever its size does
 * not contradict an expected one. Whether its bytes are of the file the sources serve now is for
 * the fetch to prove (a validator, or the digest checked before the commit), or they go.
 */
export interface StageIdentity {
  /** The primary source's id (recorded in a new journal's head). */
  readonly source: string
  /** describeExpected() of the expected digests (recorded in a new journal's head). */
  readonly expected: string
  /** The expected size, when given. */
  readonly size: number | undefined
}

/**
 * The stage of one file transaction: this writer's staging folder with the partial file open,
 * its journal, and the byte ranges known to be written (re-checked ones when it adopted a dead
 * writer's partial). Bytes go in through {@link writeAt} and {@link written}; the file leaves
 * through {@link commitTo} (into the destination) or {@link abandon} (kept for resume, or removed).
 */
export class StagedFile {
  readonly journalPath: string
  readonly data: FileHandle
  /** The journal's head: source, expected digests, size, validators per source. */
  head!: HeadRecord
  /** The file's size, once known. */
  size: number | undefined
  /** Bytes written (and, when resumed, re-checked). */
  ranges: RangeSet
  /** Bytes already there when the stage opened. */
  readonly resumedFrom: number
  /** Called once when a journal write fails: without a journal, what arrives next could not be resumed. */
  onJournalFailure: (error: HaulError) => void = () => undefined
  readonly #stage: Stage
  /** How this folder's files are written (synchronously on a local filesystem). */
  readonly #calls: FolderCalls
  readonly #writebackBytes: number
  #journal: JournalWriter | undefined
  #journalFailure: unknown
  #unsynced = 0
  #writeback: Promise<void> | undefined
  /** Data records in the journal (from its head): a sync record counts them. */
  #dataRecords = 0
  /** Whether the journal file may exist (a deferred one never written does not). */
  #journalOnDisk = true
  /** The data file became the destination. */
  #renamed = false
  /** The journal's first write, while it is under way: writes of data wait for it (see #write). */
  #journalLanding: Promise<void> | undefined

  private constructor(stage: Stage, size: number | undefined, writebackBytes: number) {
    this.#stage = stage
    this.#calls = stage.calls
    this.journalPath = stage.journalPath
    this.data = stage.data
    this.ranges = stage.verified ?? new RangeSet()
    this.resumedFrom = this.ranges.total
    this.size = size
    this.#writebackBytes = writebackBytes
  }

  /** Where the partial file is now (it moves into the writer's folder when the journal goes to disk). */
  get dataPath(): string {
    return this.#stage.dataPath
  }

  /**
   * Opens this writer's stage for `destination`: adopts a dead writer's partial whose journal
   * matches `identity` (appending to its journal), or starts an empty one with a new journal.
   * @param writebackBytes written bytes between background datasyncs; 0: none
   * @param notePartial set when a new partial goes beside the destination (its lock is the folder's: HeldDestination.notePartial)
   */
  static async open(destination: string, identity: StageIdentity, writebackBytes: number, signal: AbortSignal, notePartial?: (partial: string) => Promise<void>): Promise<StagedFile> {
    const stage = await openStage(
      destination,
      (state) => identity.size === undefined || state.head.size === undefined || state.head.size === identity.size,
      signal,
      notePartial,
    )
    const previous = stage.previous?.head
    const { calls } = stage
    const staged = new StagedFile(stage, identity.size ?? previous?.size, writebackBytes)
    try {
      if (stage.previous !== undefined) {
        staged.head = stage.previous.head
        staged.#dataRecords = stage.previous.claims.length
        staged.#journal = await JournalWriter.append(stage.journalPath, calls).catch((err: unknown) => {
          throw fsError(err, 'open the journal', stage.journalPath)
        })
        // Adopted after a reboot: what this writer claims belongs to this boot.
        if (stage.previous.boot !== bootId()) staged.#write({ t: 'boot', id: bootId() })
      } else {
        staged.head = { t: 'head', v: JOURNAL_VERSION, source: identity.source, expected: identity.expected, validators: {}, created: new Date().toISOString(), boot: bootId(), ...(staged.size === undefined ? {} : { size: staged.size }) }
        staged.#journal = JournalWriter.deferred(stage.journalPath, staged.head, calls, () => makeStageFolder(stage))
      }
    } catch (err) {
      await staged.abandon(true)
      staged.leave()
      throw err
    }
    return staged
  }

  /** Writes `buffer[0, length)` at `at`; every byte or a HaulError. */
  async writeAt(buffer: Buffer, length: number, at: number): Promise<void> {
    if (this.#journalLanding !== undefined) await this.#journalLanding
    try {
      for (let done = 0; done < length; ) {
        const bytesWritten = await this.#calls.write(this.data, buffer, done, length - done, at + done)
        if (bytesWritten === 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' })
        done += bytesWritten
      }
    } catch (err) {
      throw fsError(err, 'write to the partial file', this.dataPath)
    }
  }

  /** `length` bytes at `at` reached the file (page cache). */
  written(at: number, length: number): void {
    this.#unsynced += length
    if (this.#unsynced >= this.#writebackBytes && this.#writeback === undefined && this.#writebackBytes > 0) {
      this.#unsynced = 0
      // The data records so far claim bytes whose writes returned before this datasync began.
      const covered = this.#dataRecords
      // A failure here shows again in the fsync before the commit, which is where it counts.
      this.#writeback = this.data.datasync().then(
        () => {
          this.#writeback = undefined
          if (covered > 0) this.#write({ t: 'sync', n: covered })
        },
        () => (this.#writeback = undefined),
      )
    }
    this.ranges.add(at, at + length)
  }

  /**
   * Appends a data record for written bytes [start, end). A new journal goes to disk with its
   * first data record, unless that record holds the whole file: a small file's body arrives in
   * one record, and it commits next, with no journal written or removed. A SIGKILL before that
   * commit loses that one record's bytes (at most a write buffer), as a kill loses the bytes since
   * the last record anyway; an abort writes the journal (abandon).
   */
  record(start: number, end: number): void {
    this.#dataRecords++
    this.#write({ t: 'data', s: start, e: end }, start === 0 && end === this.size)
  }

  /** Records a source's validator (ETag, Last-Modified, CID) in the head and the journal (with the first data record, when new). */
  noteValidator(label: string, validator: string): void {
    this.head.validators[label] = validator
    this.#write({ t: 'info', label, validator, ...(this.size === undefined ? {} : { size: this.size }) }, true)
  }

  /** The size became known (from a source, or from where the body ended). */
  learnSize(size: number): void {
    this.size = size
    this.head.size = size
  }

  /** Truncates everything and starts the journal over (the remote changed or can't resume). */
  async reset(size: number | undefined): Promise<void> {
    await this.#writeback
    await this.data.truncate(0).catch((err: unknown) => {
      throw fsError(err, 'truncate the partial file', this.dataPath)
    })
    this.ranges.clear()
    this.size = size
    this.head = { ...this.head, validators: {}, created: new Date().toISOString(), boot: bootId() }
    this.#dataRecords = 0
    if (size === undefined) delete this.head.size
    else this.head.size = size
    await this.#journal!.reset(this.head).catch((err: unknown) => {
      throw fsError(err, 'write the journal', this.journalPath)
    })
  }

  /** Closes the journal once every byte is in; throws if a journal write had failed. */
  async closeJournal(): Promise<void> {
    await this.#closeJournal()
    if (this.#journalFailure !== undefined) throw fsError(this.#journalFailure, 'write the journal', this.journalPath)
  }

  /**
   * Renames the verified file onto `destination`, durably unless `options.fsync` is false; unless
   * `options.yields` says (right before the rename) that the same file landed there meanwhile:
   * false then.
   */
  async commitTo(destination: string, options: CommitOptions): Promise<boolean> {
    await this.#writeback
    this.#renamed = await commitFile(this.data, this.dataPath, destination, options)
    return this.#renamed
  }

  /** Removes this writer's folder (after the commit, or when nothing in it is worth keeping). */
  async remove(): Promise<void> {
    await removeStage(this.#stage, { journal: this.#journalOnDisk, data: !this.#renamed }).catch(() => undefined)
  }

  /** Closes everything after a failure; the partial stays for resume when `keep` and it holds any byte. */
  async abandon(keep: boolean): Promise<void> {
    keep &&= this.ranges.total > 0
    // A background datasync under way is waited for before the journal closes: its sync record
    // is what lets a resume after a reboot trust the bytes it covered (it was dropped before).
    await this.#writeback
    if (keep) await this.#journal?.flush().catch(() => undefined)
    // A lone partial still without its folder has no journal to vouch for it: nothing to resume.
    keep &&= this.#stage.folderMade
    await this.#closeJournal().catch(() => undefined)
    await this.data.close().catch(() => undefined)
    // Nothing worth resuming: leave the folder as it was.
    if (!keep) await this.remove()
  }

  /** The transaction is over: a later one may adopt this folder. */
  leave(): void {
    leaveStage(this.#stage)
  }

  async #closeJournal(): Promise<void> {
    const journal = this.#journal
    if (journal === undefined) return
    this.#journal = undefined
    this.#journalOnDisk = journal.written
    await journal.close()
  }

  #write(record: JournalRecord, hold = false): void {
    const journal = this.#journal
    if (journal === undefined) return
    const deferred = !journal.written
    const done = journal.write(record, hold).catch((err: unknown) => {
      if (this.#journalFailure !== undefined) return
      this.#journalFailure = err
      this.onJournalFailure(fsError(err, 'write the journal', this.journalPath))
    })
    // This record puts a held journal on disk: the writer's folder is made, the lone partial moved
    // in and the journal created, three trips through the thread pool. Bytes written meanwhile
    // could fill a nearly full disk before the journal has room for its first line, and then
    // none of them could be resumed (disk.test.ts lost its partial 2 times in 8 that way), so
    // data waits for it, once per download.
    if (deferred && journal.written) {
      const landing = done.then(() => {
        if (this.#journalLanding === landing) this.#journalLanding = undefined
      })
      this.#journalLanding = landing
    }
  }
}
