import { readdir, readlink, rename, rm, stat, unlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { DEFAULT_CACHE_GC_GRACE_MS } from '../defaults.js'
import { fsError, isHaulError } from '../errors.js'
import { sleep } from '../fetch/retry.js'
import { isGone } from '../fs-race.js'
import { acquireDestinationLock, type DestinationLock, type LockKind } from '../lock/lock.js'
import { releaseDestination } from '../stage/stage.js'
import { hashFile } from '../verify/hasher.js'
import { tombFor, type CacheLayout } from './cache-layout.js'

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
  /**
   * Blobs that would have gone but were in use: locked by a running download on this host, or
   * taken back during the grace period by a download on another host sharing the cache.
   */
  busy: CacheEntry[]
}

/** What gc and verify need of the cache's options. */
export interface MaintenanceOptions {
  readonly lockKind?: LockKind
  readonly hashThread: boolean
}

/** Options for {@link gcBlobs}. */
export interface GcOptions {
  /** Remove least recently used blobs until the cache holds at most this many bytes. */
  maxBytes: number
  /**
   * How long a retired blob stays in its tomb, where a download on another host that was about
   * to link it can take it back, before it is removed for good.
   * @default DEFAULT_CACHE_GC_GRACE_MS
   */
  graceMs?: number
  /** Stops the grace period early; what is retired so far is then removed. */
  signal?: AbortSignal
}

/** Every blob, oldest use first. */
export async function listBlobs(layout: CacheLayout): Promise<CacheEntry[]> {
  const folder = layout.blobs
  const names = await readdir(folder).catch(() => [] as string[])
  const aliases = new Map<string, string[]>()
  for (const { name, target } of await cidLinks(layout)) {
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

async function cidLinks(layout: CacheLayout): Promise<Array<{ name: string; path: string; target: string }>> {
  const folder = layout.aliases
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
async function pruneAliases(layout: CacheLayout): Promise<void> {
  for (const { path } of await cidLinks(layout)) {
    if ((await stat(path).catch(() => undefined)) === undefined) await unlink(path).catch(() => undefined)
  }
}

/**
 * Re-hashes every blob and removes the ones whose bytes no longer match their name. A corrupt
 * blob whose lock is held by a running download is reported but left in place.
 */
export async function verifyBlobs(layout: CacheLayout, settings: MaintenanceOptions, options: { signal?: AbortSignal; onBlob?: (entry: CacheEntry, ok: boolean) => void } = {}): Promise<CacheVerifyReport> {
  const report: CacheVerifyReport = { checked: 0, bytes: 0, corrupt: [] }
  for (const entry of await listBlobs(layout)) {
    options.signal?.throwIfAborted()
    const actual = await hashFile(entry.path, [], options.signal, settings.hashThread).then((d) => d.sha256).catch((err: unknown) => {
      if (isGone(err)) return undefined // removed meanwhile (here or by another host)
      throw fsError(err, 'read the cache entry', entry.path)
    })
    if (actual === undefined) continue
    report.checked++
    report.bytes += entry.size
    const ok = actual === entry.sha256
    options.onBlob?.(entry, ok)
    if (ok) continue
    const removed = await removeBlob(entry.path, settings)
    report.corrupt.push({ ...entry, actual, removed })
  }
  await pruneAliases(layout)
  return report
}

/**
 * Removes blobs, least recently used first, until the cache holds at most `maxBytes`. A blob
 * whose lock is held (a download writing or linking it on this host) is skipped.
 *
 * Locks may not span hosts sharing the cache (NFS, SMB, sshfs), so gc can't tell that a
 * download on another host is about to link a blob. So it never removes one at once: it
 * renames each to its tomb (atomic; the name disappears from the cache), waits `graceMs`, then
 * removes the tombs. A download whose link failed meanwhile renamed the tomb back
 * (`reclaimBlob` in place-output.ts): that blob is kept and counted as busy. Tombs left by a gc that died are
 * removed by the next one, after its own grace period.
 */
export async function gcBlobs(layout: CacheLayout, settings: MaintenanceOptions, options: GcOptions): Promise<CacheGcReport> {
  const entries = await listBlobs(layout)
  const before = entries.reduce((sum, e) => sum + e.size, 0)
  const leftover = (await readdir(layout.blobs).catch(() => [] as string[])).filter(isTomb).map((name) => join(layout.blobs, name))
  let total = before
  const retired: CacheEntry[] = []
  const busy: CacheEntry[] = []
  for (const entry of entries) {
    if (total <= options.maxBytes) break
    if (await retireBlob(entry.path, settings)) {
      retired.push(entry)
      total -= entry.size
    } else busy.push(entry)
  }
  if (retired.length > 0 || leftover.length > 0) await sleep(options.graceMs ?? DEFAULT_CACHE_GC_GRACE_MS, options.signal).catch(() => undefined)
  const removed: CacheEntry[] = []
  for (const entry of retired) {
    // Gone from the tomb: a download took it back, and the blob is in use again.
    if (await removeTomb(tombFor(entry.path))) removed.push(entry)
    else {
      busy.push(entry)
      total += entry.size
    }
  }
  for (const tomb of leftover) await removeTomb(tomb)
  await pruneAliases(layout)
  return { bytesBefore: before, bytesAfter: total, removed, busy }
}

/** A gc tomb's name (see {@link tombFor}). */
function isTomb(name: string): boolean {
  return /^\.[0-9a-f]{64}\.gc$/.test(name)
}

/** Removes a tomb; false when it was not there (taken back by a download, or removed already). */
async function removeTomb(tomb: string): Promise<boolean> {
  try {
    await unlink(tomb)
    return true
  } catch (err) {
    if (isGone(err)) return false
    throw fsError(err, 'remove the cache entry', tomb)
  }
}

/** Under the blob's lock, renames it to its tomb; false when the lock is held elsewhere or it is gone. */
async function retireBlob(path: string, settings: MaintenanceOptions): Promise<boolean> {
  return underBlobLock(path, settings, async () => {
    try {
      await rename(path, tombFor(path))
      return true
    } catch (err) {
      if (isGone(err)) return false
      throw fsError(err, 'remove the cache entry', path)
    }
  })
}

/** Removes a blob at once, under its lock (a corrupt one: nobody should link it); false when the lock is held elsewhere. */
async function removeBlob(path: string, settings: MaintenanceOptions): Promise<boolean> {
  return underBlobLock(path, settings, async () => {
    try {
      await rm(path, { force: true })
    } catch (err) {
      throw fsError(err, 'remove the cache entry', path)
    }
    return true
  })
}

/** Runs `action` holding the blob's lock; false when another process on this host holds it. */
async function underBlobLock(path: string, settings: MaintenanceOptions, action: () => Promise<boolean>): Promise<boolean> {
  let lock: DestinationLock
  try {
    lock = await acquireDestinationLock(path, { noWait: true, ...(settings.lockKind === undefined ? {} : { kind: settings.lockKind }) })
  } catch (err) {
    if (isHaulError(err, 'HAUL_LOCK_BUSY')) return false
    throw err
  }
  try {
    return await action()
  } finally {
    await releaseDestination(lock, path)
  }
}
