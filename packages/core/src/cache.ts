import { constants } from 'node:fs'
import { copyFile, link, lstat, open, readdir, readlink, realpath, rename, rm, stat, symlink, unlink, utimes } from 'node:fs/promises'
import { createHash, randomBytes } from 'node:crypto'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { ensureDir } from './ensure-dir.js'
import { parseExpectedDigests } from './digest.js'
import { HaulError, fsError, isHaulError } from './errors.js'
import type { HaulEvent } from './events.js'
import { hashFile } from './hasher.js'
import { acquireLock, type DestinationLock } from './lock.js'
import type { DownloadOptions, DownloadResult } from './options.js'
import { lockPathFor, removeStagingRoot } from './staging.js'

/** Downloads of one blob in one call before giving up (gc may remove it between fetch and link). */
const MAX_FETCH_ROUNDS = 3

/**
 * A shared, content-addressed download cache.
 *
 * Layout under the cache folder:
 * - `blobs/sha256/<hex>`: one verified file per SHA-256.
 * - `blobs/cid/<cid>`: a symlink to `../sha256/<hex>` for content fetched by CID.
 * - `incoming/<hash of the source>`: where a download without a known digest lands before it is
 *   filed under its SHA-256.
 *
 * A blob is only ever created by the transaction's atomic rename (or by linking a file that one
 * created), and an output only by link-or-copy to a temporary name and a rename, so no reader
 * can see a partial or mixed blob even where locks silently do nothing (some network
 * filesystems): there, concurrent processes may each download the same blob (duplicates), and
 * `gc` may remove a blob that another host is about to link (that download then fetches again).
 *
 * The blob's lock (core's destination lock on the blob path) is held while a blob is written,
 * while it is linked to an output, and while `gc`/`verify` remove it, so `gc` never removes a
 * blob a running download is placing.
 */
export class Cache {
  /** Absolute path of the cache folder. */
  readonly dir: string

  constructor(dir: string) {
    this.dir = resolve(dir)
  }

  /** Where the blob with this SHA-256 (lowercase hex) lives. */
  blobPath(sha256: string): string {
    return join(this.dir, 'blobs', 'sha256', sha256)
  }

  /** Where the alias for this CID key lives (a symlink to the SHA-256 blob). */
  cidPath(key: string): string {
    return join(this.dir, 'blobs', 'cid', key)
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
          if (sha256 === undefined) await this.#fileCid(entry, result.sha256)
          return result
        })
      }
      const incoming = join(this.dir, 'incoming', createHash('sha256').update(key.id).digest('hex'))
      const fetched = await runInto(incoming)
      const blob = this.blobPath(fetched.sha256)
      await this.#file(incoming, blob)
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
      const lock = await this.#lock(entry, options, () => emit({ event: 'wait', output, lock: lockPathFor(entry) }))
      try {
        const blob = await realpath(entry).catch(() => undefined)
        const st = blob === undefined ? undefined : await stat(blob).catch(() => undefined)
        // Where locks do nothing, gc elsewhere may remove the blob under us: then fetch it again.
        const placed =
          blob !== undefined &&
          st?.isFile() === true &&
          (await placeOutput(blob, output).then(
            () => true,
            async (err: unknown) => {
              if ((await stat(blob).catch(() => undefined)) === undefined) return false
              throw err
            },
          ))
        if (placed) {
          await utimes(blob, new Date(), st.mtime).catch(() => undefined) // last use, for gc
          const sha256 = result?.sha256 ?? basename(blob)
          const cached = result === undefined || result.cached
          emit({ event: 'done', path: output, bytes: st.size, sha256, ...(cached ? { cached: true } : {}) })
          return { path: output, bytes: st.size, sha256, resumedFrom: result?.resumedFrom ?? st.size, source: result?.source ?? blob, cached }
        }
      } finally {
        // Pass on the previous holder's commit record, so a download waiting behind still skips.
        await lock.release(lock.handedOver).catch(() => undefined)
        await removeStagingRoot(entry)
      }
      if (round >= MAX_FETCH_ROUNDS - 1) throw new HaulError('HAUL_IO', `The cache entry ${entry} kept disappearing before it could be linked to ${output} (is "haul cache gc" running with a tiny --max-size?).`, { path: entry })
      result = await fetch()
    }
  }

  #lock(entry: string, options: DownloadOptions, onWait: () => void): Promise<DestinationLock> {
    return acquireLock(lockPathFor(entry), { noWait: options.noWait ?? false, ...(options.signal === undefined ? {} : { signal: options.signal }), onWait })
  }

  /** Files a downloaded file under its SHA-256: the blob, if already there, is kept as it is. */
  async #file(from: string, blob: string): Promise<void> {
    try {
      await ensureDir(dirname(blob))
      await link(from, blob).catch(async (err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EEXIST') return
        if (code === 'ENOENT' && (await stat(blob).catch(() => undefined)) !== undefined) return // another process filed it
        await rename(from, blob)
      })
      await rm(from, { force: true })
    } catch (err) {
      throw fsError(err, 'file the download in the cache at', blob)
    }
  }

  /** Turns a committed CID entry into a symlink to its SHA-256 blob. */
  async #fileCid(entry: string, sha256: string): Promise<void> {
    const blob = this.blobPath(sha256)
    try {
      if ((await lstat(entry)).isSymbolicLink()) return
      await ensureDir(dirname(blob))
      await link(entry, blob).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      })
      const tmp = join(dirname(entry), `.${basename(entry)}.${randomBytes(6).toString('hex')}.link`)
      await symlink(join('..', 'sha256', sha256), tmp)
      await rename(tmp, entry).catch(async (err: unknown) => {
        await rm(tmp, { force: true })
        throw err
      })
    } catch (err) {
      throw fsError(err, 'file the download in the cache at', blob)
    }
  }

  /** Every blob, oldest use first. */
  async list(): Promise<CacheEntry[]> {
    const folder = join(this.dir, 'blobs', 'sha256')
    const names = await readdir(folder).catch(() => [] as string[])
    const aliases = new Map<string, string[]>()
    for (const { name, target } of await this.#cidLinks()) {
      const hex = basename(target)
      aliases.set(hex, [...(aliases.get(hex) ?? []), name])
    }
    const out: CacheEntry[] = []
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue // staging folders, temporary names
      const path = join(folder, name)
      const st = await stat(path).catch(() => undefined)
      if (st?.isFile() !== true) continue
      out.push({ sha256: name, path, size: st.size, lastUsed: st.atime, cids: aliases.get(name) ?? [] })
    }
    return out.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime())
  }

  async #cidLinks(): Promise<Array<{ name: string; path: string; target: string }>> {
    const folder = join(this.dir, 'blobs', 'cid')
    const names = await readdir(folder).catch(() => [] as string[])
    const out = []
    for (const name of names) {
      if (name.startsWith('.')) continue
      const path = join(folder, name)
      const target = await readlink(path).catch(() => undefined)
      if (target !== undefined) out.push({ name, path, target })
    }
    return out
  }

  /** Removes CID aliases whose blob is gone. */
  async #pruneAliases(): Promise<void> {
    for (const { path } of await this.#cidLinks()) {
      if ((await stat(path).catch(() => undefined)) === undefined) await unlink(path).catch(() => undefined)
    }
  }

  /**
   * Re-hashes every blob and removes the ones whose bytes no longer match their name. A corrupt
   * blob whose lock is held by a running download is reported but left in place.
   */
  async verify(options: { signal?: AbortSignal; onBlob?: (entry: CacheEntry, ok: boolean) => void } = {}): Promise<CacheVerifyReport> {
    const report: CacheVerifyReport = { checked: 0, bytes: 0, corrupt: [] }
    for (const entry of await this.list()) {
      options.signal?.throwIfAborted()
      const actual = await hashFile(entry.path, [], options.signal).then((d) => d.sha256).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // removed meanwhile
        throw fsError(err, 'read the cache entry', entry.path)
      })
      if (actual === undefined) continue
      report.checked++
      report.bytes += entry.size
      const ok = actual === entry.sha256
      options.onBlob?.(entry, ok)
      if (ok) continue
      const removed = await this.#removeBlob(entry.path)
      report.corrupt.push({ ...entry, actual, removed })
    }
    await this.#pruneAliases()
    return report
  }

  /**
   * Removes blobs, least recently used first, until the cache holds at most `maxBytes`. A blob
   * whose lock is held (a download writing or linking it) is skipped.
   */
  async gc(options: { maxBytes: number }): Promise<CacheGcReport> {
    const entries = await this.list()
    const before = entries.reduce((sum, e) => sum + e.size, 0)
    let total = before
    const removed: CacheEntry[] = []
    const busy: CacheEntry[] = []
    for (const entry of entries) {
      if (total <= options.maxBytes) break
      if (await this.#removeBlob(entry.path)) {
        removed.push(entry)
        total -= entry.size
      } else busy.push(entry)
    }
    await this.#pruneAliases()
    return { bytesBefore: before, bytesAfter: total, removed, busy }
  }

  /** Removes a blob under its lock; false when the lock is held elsewhere. */
  async #removeBlob(path: string): Promise<boolean> {
    let lock: DestinationLock
    try {
      lock = await acquireLock(lockPathFor(path), { noWait: true })
    } catch (err) {
      if (isHaulError(err, 'HAUL_LOCK_BUSY')) return false
      throw err
    }
    try {
      await rm(path, { force: true })
    } catch (err) {
      throw fsError(err, 'remove the cache entry', path)
    } finally {
      await lock.release().catch(() => undefined)
      await removeStagingRoot(path)
    }
    return true
  }
}

/** One blob in the cache. */
export interface CacheEntry {
  sha256: string
  path: string
  size: number
  /** Last time a download linked it (or anything read it, where the filesystem records that). */
  lastUsed: Date
  /** CID aliases that point at it. */
  cids: string[]
}

/** What {@link Cache.verify} found. */
export interface CacheVerifyReport {
  checked: number
  bytes: number
  /** Blobs whose bytes did not match their name; `removed` is false when a download held them. */
  corrupt: Array<CacheEntry & { actual: string; removed: boolean }>
}

/** What {@link Cache.gc} did. */
export interface CacheGcReport {
  bytesBefore: number
  bytesAfter: number
  removed: CacheEntry[]
  /** Blobs that would have gone but were locked by a running download. */
  busy: CacheEntry[]
}

/**
 * The cache folder to use when none is given: `HAUL_CACHE`, else `$XDG_CACHE_HOME/haul`, else
 * `~/.cache/haul`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HAUL_CACHE !== undefined && env.HAUL_CACHE !== '') return resolve(env.HAUL_CACHE)
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '') return join(resolve(env.XDG_CACHE_HOME), 'haul')
  return join(homedir(), '.cache', 'haul')
}

/** The one SHA-256 the options pin down, if they do (hex, SRI, ALGO:HEX or multihash). */
function expectedSha256(options: DownloadOptions): string | undefined {
  for (const e of parseExpectedDigests(options)) {
    if (e.algorithm === 'sha256' && e.candidates.length === 1) return e.candidates[0]
  }
  return undefined
}

/**
 * Puts `blob`'s bytes at `output` atomically: a hard link (else a reflink or copy) to a
 * temporary name beside the output, then a rename. Nothing to do when the output already is the
 * blob.
 */
async function placeOutput(blob: string, output: string): Promise<void> {
  const [b, o] = await Promise.all([stat(blob), stat(output).catch(() => undefined)])
  if (o !== undefined && o.ino === b.ino && o.dev === b.dev) return
  try {
    await ensureDir(dirname(output))
  } catch (err) {
    throw fsError(err, 'create the folder', dirname(output))
  }
  const tmp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.haul-link`)
  try {
    try {
      await link(blob, tmp)
    } catch {
      // Another filesystem, or one without hard links: a reflink where the filesystem can, else a copy.
      await copyFile(blob, tmp, constants.COPYFILE_FICLONE)
      const fh = await open(tmp, 'r+')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    await rename(tmp, output)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw fsError(err, 'link the cached file to', output)
  }
  const dir = await open(dirname(output), 'r').catch(() => undefined)
  await dir?.sync().catch(() => undefined)
  await dir?.close()
}
