import { landedMeanwhile } from './commit/landed-meanwhile.js'
import { networkNotice, type FilesystemKind } from './lock/fs-kind.js'
import { recheckDestination } from './commit/recheck.js'
import { withDestination, type HeldDestination, type ShellOutcome } from './commit/destination.js'
import type { Committed } from './commit/commit-record.js'
import * as D from './defaults.js'
import { HaulError, abortedError } from './errors.js'
import type { HaulEvent } from './events.js'
import { BufferPool } from './fetch/buffer-pool.js'
import { FetchRounds } from './fetch/fetch-round.js'
import { ProgressReporter } from './fetch/progress.js'
import type { SegmentSink } from './fetch/segment-writer.js'
import { SourcePool } from './fetch/source-pool.js'
import type { DownloadOptions, DownloadResult } from './options.js'
import { resolveOptions, type ResolvedOptions } from './resolve-options.js'
import { runFramed } from './run-frame.js'
import type { Source } from './source.js'
import { StagedFile } from './stage/staged-file.js'
import { describeExpected, findMismatch } from './verify/digest.js'
import { OrderedHasher, StreamDigest, type Digests } from './verify/hasher.js'

/**
 * Runs one download transaction: lock → re-check → stage → fetch (resume, retry, rotate,
 * segments) → verify → commit. Either the verified file is at `options.output` when this
 * resolves, or nothing changed there and the partial (if any) stays staged for the next run.
 *
 * @param sources the same bytes from one or more places, preferred first; `sources[0].id` is the
 *   identity recorded in the journal
 */
export function runDownload(sources: ReadonlyArray<Source>, options: DownloadOptions): Promise<DownloadResult> {
  return runFramed(sources, options, (paced, effective, emit) => new Transaction(paced, effective, resolveOptions(effective), emit).run())
}

/** One file's transaction: the story that calls the stages in order. */
class Transaction {
  readonly #sources: ReadonlyArray<Source>
  readonly #options: DownloadOptions
  readonly #o: ResolvedOptions
  readonly #emit: (e: HaulEvent) => void
  readonly #master = new AbortController()
  readonly #pool: BufferPool

  constructor(sources: ReadonlyArray<Source>, options: DownloadOptions, resolved: ResolvedOptions, emit: (e: HaulEvent) => void) {
    this.#sources = sources
    this.#options = options
    this.#o = resolved
    this.#emit = emit
    this.#pool = new BufferPool(resolved.bufferBytes, resolved.buffers)
  }

  get #primary(): Source {
    return this.#sources[0]!
  }

  async run(): Promise<DownloadResult> {
    const signal = this.#options.signal
    if (signal?.aborted === true) throw abortedError(signal)
    const onAbort = (): void => this.#master.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const destination = this.#o.destination
      const shell = {
        noWait: this.#o.noWait,
        lockKind: this.#o.lockKind,
        signal: this.#master.signal,
        onWait: (lock: string) => this.#emit({ event: 'wait', output: destination, lock }),
        onNetworkFilesystem: (kind: FilesystemKind, folder: string) => this.#emit(networkNotice(folder, kind)),
      }
      return await withDestination(destination, shell, async (held) => {
        // The stat the shell took with the lock: a folder there is never replaced by a file.
        if (held.found?.isDirectory() === true) throw new HaulError('HAUL_USAGE', `The output ${destination} is a directory; give a file path.`, { path: destination })
        const cached = await recheckDestination(destination, this.#primary.id, this.#o.expected, held.handedOver, this.#o.size, this.#o.hashThread, held.found)
        if (cached === undefined) return this.#download(held)
        this.#emit({ event: 'done', path: destination, bytes: cached.size, sha256: cached.sha256, cached: true })
        return {
          result: { path: destination, bytes: cached.size, sha256: cached.sha256, resumedFrom: cached.size, source: this.#primary.label, cached: true },
          committed: { source: this.#primary.id, size: cached.size, digests: { sha256: cached.sha256 } },
        }
      })
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.#pool.close()
    }
  }

  /** Stage → fetch → verify → commit. `held.found`: what was at the destination when the lock was taken. */
  async #download(held: HeldDestination): Promise<ShellOutcome<DownloadResult>> {
    const found = held.found
    const destination = this.#o.destination
    const stage = await StagedFile.open(destination, { source: this.#primary.id, expected: describeExpected(this.#o.expected), size: this.#o.size }, this.#o.writebackBytes, this.#master.signal, held.notePartial)
    let hasher: OrderedHasher | undefined
    let hasherReady: Promise<void> | undefined
    let keep = true
    // `start` waits for the first answer, which tells the size of a fresh download, unless
    // something else must be said first.
    let started = false
    const announce = (): void => {
      if (started) return
      started = true
      this.#emit({ event: 'start', source: this.#primary.id, output: destination, ...(stage.size === undefined ? {} : { total: stage.size }), resumedFrom: stage.resumedFrom })
    }
    const emit = (event: HaulEvent): void => {
      announce()
      this.#emit(event)
    }
    try {
      const newHasher = async (): Promise<void> => {
        await hasher?.drop()
        hasher = new OrderedHasher(await StreamDigest.create(this.#o.expected.map((e) => e.algorithm), this.#o.hashThread, () => stage.size), stage.data, this.#pool)
        // A resumed prefix is read back and hashed in the background while new bytes arrive: from
        // the first buffer handed on, not before — reading it back takes the pool buffers and the
        // thread pool that the first bytes need to reach the disk and the journal.
      }
      const progress = new ProgressReporter(emit, D.DEFAULT_PROGRESS_INTERVAL_MS, stage.size)
      const sink: SegmentSink = {
        pool: this.#pool,
        checkpointBytes: this.#o.checkpointBytes,
        writeAt: (buffer, length, at) => stage.writeAt(buffer, length, at),
        landed: (at, length) => stage.written(at, length),
        written: (at, buffer, length) => {
          stage.written(at, length)
          hasher!.written(at, buffer, length, stage.ranges.prefixEnd, this.#pool.release)
        },
        record: (start, end) => stage.record(start, end),
      }
      const rounds = new FetchRounds({
        primary: this.#primary,
        pool: new SourcePool(this.#sources, this.#o.retries),
        options: this.#o,
        stage,
        sink,
        progress,
        signal: this.#master.signal,
        aborted: () => abortedError(this.#options.signal),
        emit,
        announce,
        digest: this.#o.expected.length > 0,
        // The hash thread starts once there are bytes to hash, not before the first request.
        ready: () => (hasherReady ??= newHasher()),
        startOver: async (info) => {
          await hasher?.settle()
          await stage.reset(this.#o.size ?? info?.size)
          progress.total = stage.size
          hasherReady = hasherReady === undefined ? undefined : newHasher()
          await hasherReady
        },
      })
      stage.onJournalFailure = (error) => rounds.abort(error)

      let digests: Digests | undefined
      const size = (): number => stage.size ?? stage.ranges.total
      while (digests === undefined) {
        progress.start()
        try {
          await rounds.run()
        } finally {
          progress.update(stage.ranges.total, 0)
          progress.stop()
        }
        if (stage.ranges.gaps(size()).length > 0) throw new HaulError('HAUL_INTERNAL', 'Internal error: the transfer ended with bytes missing. Please report this.')
        await (hasherReady ??= newHasher())
        const got = await hasher!.finish(size())
        const mismatch = findMismatch(this.#o.expected, got)
        if (mismatch === undefined) digests = got
        else if (rounds.reliedOnDigest) {
          // Bytes no validator vouched for were combined on the digest's word: fetch the file whole once before blaming it.
          await rounds.restart(`the ${mismatch.expected.algorithm} digest does not match bytes that were combined without a validator to vouch for them; fetching the file whole`, undefined, undefined, false)
        } else {
          keep = false
          throw new HaulError(
            'HAUL_INTEGRITY',
            `The downloaded bytes do not match the expected ${mismatch.expected.algorithm} digest (expected ${mismatch.expected.candidates.join(' or ')}, got ${mismatch.actual}). Nothing was saved; the source may be corrupt or the digest wrong.`,
            { source: this.#primary.id, path: destination, expected: `${mismatch.expected.algorithm}:${mismatch.expected.candidates[0] ?? ''}`, actual: `${mismatch.expected.algorithm}:${mismatch.actual}` },
          )
        }
      }
      await stage.closeJournal()
      const ourSha256 = digests.sha256
      const verified = digests
      const committed = (): Committed => ({ source: this.#primary.id, size: size(), digests: verified })
      let ours: boolean
      try {
        // Where the lock did not exclude another host, it may have committed the same bytes
        // first: then theirs stays and ours goes (see landedMeanwhile).
        ours = await stage.commitTo(destination, {
          fsync: this.#o.fsync,
          yields: () => landedMeanwhile(destination, found, size(), ourSha256, this.#o.hashThread),
          landing: (file) => held.landing(committed(), file),
        })
      } catch (err) {
        keep = false // an fsync error is never retried: the staged bytes may be lost already
        throw err
      }
      if (ours) await stage.remove()
      else {
        keep = false
        await stage.abandon(false)
      }
      announce()
      this.#emit({ event: 'done', path: destination, bytes: size(), sha256: digests.sha256 })
      const resumedFrom = rounds.restarted ? 0 : stage.resumedFrom
      return { result: { path: destination, bytes: size(), sha256: digests.sha256, resumedFrom, source: (rounds.lastSource ?? this.#primary).label, cached: false }, committed: committed() }
    } catch (err) {
      announce()
      await hasher?.drop().catch(() => undefined)
      await stage.abandon(keep)
      throw err
    } finally {
      stage.leave()
    }
  }
}
