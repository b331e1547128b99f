import { readlink, realpath, stat, utimes } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { basename, dirname, resolve } from 'node:path'
import { parseExpectedDigests } from '../verify/digest.js'
import { HaulError, isHaulError } from '../errors.js'
import type { HaulEvent } from '../events.js'
import { acquireDestinationLock, type DestinationLock, type LockKind } from '../lock/lock.js'
import type { DownloadOptions, DownloadResult } from '../options.js'
import { releaseDestination } from '../stage/stage.js'
import { fileBlob, fileCidAlias } from './blob-filing.js'
import { CacheLayout } from './cache-layout.js'
import { gcBlobs, listBlobs, verifyBlobs, type CacheEntry, type CacheGcReport, type CacheVerifyReport, type GcOptions, type MaintenanceOptions } from './maintenance.js'
import { placeOutput, reclaimBlob } from './place-output.js'

/** How a {@link Cache} takes its locks and hashes. */
export interface CacheOptions {
  /**
   * The lock kind of the cache's own locks (linking, gc, verify); a download's `lockKind`
   * overrides it for that download. Every process sharing the cache must use the same kind.
   * @default 'auto'
   */
  lockKind?: LockKind
  /** Hash on the worker thread when `verify` re-hashes blobs. @default true */
  hashThread?: boolean
}

/** Downloads of one blob in one call before giving up (gc may remove it between fetch and link). */
const MAX_FETCH_ROUNDS = 3

/**
 * A shared, content-addressed download cache (see {@link CacheLayout} for what lives where).
 *
 * A blob is only ever created by the transaction's atomic rename (or by linking a file that one
 * created), and an output only by link-or-copy to a temporary name and a rename, so no reader
 * can see a partial or mixed blob even where locks silently do nothing (network filesystems
 * whose locks don't span hosts): there, hosts may each download the same blob once.
 *
 * The blob's lock (core's destination lock on the blob path) is held while a blob is written,
 * while it is linked to an output, and while `gc`/`verify` remove it, so `gc` never removes a
 * blob a running download on this host is placing. Across hosts, gc does not remove a blob at
 * once: it renames it to a tomb and removes it only after a grace period
 * (`DEFAULT_CACHE_GC_GRACE_MS`); a download whose link fails because the blob just went
 * takes it back from the tomb ({@link reclaimBlob}).
 */
export class Cache {
  /** Absolute path of the cache folder. */
  readonly dir: string
  readonly #layout: CacheLayout
  readonly #lockKind: LockKind | undefined
  readonly #hashThread: boolean

  constructor(dir: string, options: CacheOptions = {}) {
    this.dir = resolve(dir)
    this.#layout = new CacheLayout(this.dir)
    this.#lockKind = options.lockKind
    this.#hashThread = options.hashThread ?? true
  }

  /** Where the blob with this SHA-256 (lowercase hex) lives. */
  blobPath(sha256: string): string {
    return this.#layout.blobPath(sha256)
  }

  /** Where the alias for this CID key lives (a symlink to the SHA-256 blob). */
  cidPath(key: string): string {
    return this.#layout.cidPath(key)
  }

  /**
   * Gets `options.output` through the cache. With an expected SHA-256 (or a CID key), a blob
   * already in the cache is linked to the output with no request; otherwise `run` downloads the
   * blob (called with `output` set to the blob path, so the blob gets core's lock, staging,
   * verification and commit) and the output is then linked to it. Without either, `run`
   * downloads into the cache's `incoming/` folder and the file is filed under its SHA-256
   * afterwards: such a get is never a hit, but later gets by digest are.
   *
   * The output is a hard link to the blob where possible (so editing it in place edits the
   * blob: `haul cache verify` finds that), else a reflink or copy; it is placed by rename.
   *
   * @param run downloads with the given options (a driver's runDownload call)
   * @param key `id`: the source identity (URL, ipfs://…), names the `incoming/` entry;
   *   `cid`: a file name for the CID alias, for content addressed by CID.
   */
  async download(options: DownloadOptions, run: (options: DownloadOptions) => Promise<DownloadResult>, key: { id: string; cid?: string }): Promise<DownloadResult> {
    const lockKind = options.lockKind ?? this.#lockKind
    if (lockKind !== undefined) options = { ...options, lockKind }
    const output = resolve(options.output)
    const sha256 = expectedSha256(options)
    let errorSent = false
    const emit = (event: HaulEvent): void => {
      if (event.event === 'error') errorSent = true
      try {
        options.onEvent?.(event)
      } catch {
        // A listener's bug must not break the download.
      }
    }
    try {
      const existing = await stat(output).catch(() => undefined)
      if (existing?.isDirectory() === true) throw new HaulError('HAUL_USAGE', `The output ${output} is a directory; give a file path.`, { path: output })
      const runInto = async (target: string): Promise<DownloadResult> => {
        const forward = (e: HaulEvent): void => {
          if (e.event === 'done') return // the output is not there yet; our own `done` follows
          if (e.event === 'start' || e.event === 'wait') emit({ ...e, output })
          else emit(e)
        }
        return run({ ...options, output: target, onEvent: forward })
      }
      if (sha256 !== undefined || key.cid !== undefined) {
        const entry = sha256 !== undefined ? this.blobPath(sha256) : this.cidPath(key.cid!)
        return await this.#viaEntry(entry, output, options, emit, async () => {
          const result = await runInto(entry)
          if (sha256 === undefined) await fileCidAlias(entry, result.sha256, this.blobPath(result.sha256))
          return result
        })
      }
      const incoming = this.#layout.incomingPath(createHash('sha256').update(key.id).digest('hex'))
      const fetched = await runInto(incoming)
      const blob = this.blobPath(fetched.sha256)
      await fileBlob(incoming, blob)
      return await this.#viaEntry(blob, output, options, emit, async () => {
        throw new HaulError('HAUL_IO', `The cache entry ${blob} was removed (by "haul cache gc"?) before it could be linked to ${output}; run again.`, { path: blob })
      }, fetched)
    } catch (err) {
      if (!errorSent && isHaulError(err)) emit({ event: 'error', code: err.code, message: err.message })
      throw err
    }
  }

  /**
   * Under the entry's lock: links the entry to the output if it is there; otherwise releases the
   * lock and calls `fetch` (which takes the lock itself), then tries again. `gc` may remove a
   * blob between the fetch and the link, so this gives up after a few rounds.
   */
  async #viaEntry(entry: string, output: string, options: DownloadOptions, emit: (e: HaulEvent) => void, fetch: () => Promise<DownloadResult>, fetched?: DownloadResult): Promise<DownloadResult> {
    let result = fetched
    for (let round = 0; ; round++) {
      const lock = await this.#lock(entry, options, (lockPath) => emit({ event: 'wait', output, lock: lockPath }))
      try {
        const blob = await entryBlob(entry)
        const st = blob === undefined ? undefined : await stat(blob).catch(() => undefined)
        // Where locks don't span hosts, gc on another host may retire the blob under us; it is
        // taken back from its tomb, and only a blob gone for good is fetched again.
        const placed = blob !== undefined && st?.isFile() === true && (await placeOutput(blob, output))
        if (placed) {
          await utimes(blob, new Date(), st.mtime).catch(() => undefined) // last use, for gc
          const sha256 = result?.sha256 ?? basename(blob)
          const cached = result === undefined || result.cached
          emit({ event: 'done', path: output, bytes: st.size, sha256, ...(cached ? { cached: true } : {}) })
          return { path: output, bytes: st.size, sha256, resumedFrom: result?.resumedFrom ?? st.size, source: result?.source ?? blob, cached }
        }
      } finally {
        // Pass on the previous holder's commit record, so a download waiting behind still skips.
        await releaseDestination(lock, entry, lock.handedOver)
      }
      if (round >= MAX_FETCH_ROUNDS - 1) throw new HaulError('HAUL_IO', `The cache entry ${entry} kept disappearing before it could be linked to ${output} (is "haul cache gc" running with a tiny --max-size?).`, { path: entry })
      result = await fetch()
    }
  }

  #lock(entry: string, options: DownloadOptions, onWait: (lockPath: string) => void): Promise<DestinationLock> {
    return acquireDestinationLock(entry, {
      noWait: options.noWait ?? false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.lockKind === undefined ? {} : { kind: options.lockKind }),
      onWait,
    })
  }

  get #maintenance(): MaintenanceOptions {
    return { ...(this.#lockKind === undefined ? {} : { lockKind: this.#lockKind }), hashThread: this.#hashThread }
  }

  /** Every blob, oldest use first. */
  list(): Promise<CacheEntry[]> {
    return listBlobs(this.#layout)
  }

  /**
   * Re-hashes every blob and removes the ones whose bytes no longer match their name. A corrupt
   * blob whose lock is held by a running download is reported but left in place.
   */
  verify(options: { signal?: AbortSignal; onBlob?: (entry: CacheEntry, ok: boolean) => void } = {}): Promise<CacheVerifyReport> {
    return verifyBlobs(this.#layout, this.#maintenance, options)
  }

  /**
   * Removes blobs, least recently used first, until the cache holds at most `maxBytes`. A blob
   * whose lock is held (a download writing or linking it) is skipped; a blob that a download on
   * another host takes back during the grace period is kept and reported as busy.
   */
  gc(options: GcOptions): Promise<CacheGcReport> {
    return gcBlobs(this.#layout, this.#maintenance, options)
  }
}

/**
 * The blob an entry leads to (the entry itself, or a CID alias's SHA-256 blob), taken back from
 * gc's tomb if gc just retired it; undefined when it is not there.
 */
async function entryBlob(entry: string): Promise<string | undefined> {
  const real = await realpath(entry).catch(() => undefined)
  if (real !== undefined) return real
  const target = await readlink(entry).then(
    (to) => resolve(dirname(entry), to),
    () => entry,
  )
  return (await reclaimBlob(target)) ? realpath(entry).catch(() => undefined) : undefined
}

/** The one SHA-256 the options pin down, if they do (hex, SRI, ALGO:HEX or multihash). */
function expectedSha256(options: DownloadOptions): string | undefined {
  for (const e of parseExpectedDigests(options)) {
    if (e.algorithm === 'sha256' && e.candidates.length === 1) return e.candidates[0]
  }
  return undefined
}
