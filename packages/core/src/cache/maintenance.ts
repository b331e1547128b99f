import { readdir, readlink, rm, stat, unlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fsError, isHaulError } from '../errors.js'
import { acquireLock, type DestinationLock, type LockKind } from '../lock/lock.js'
import { lockPathFor } from '../stage/staging-paths.js'
import { removeStagingRoot } from '../stage/stage.js'
import { hashFile } from '../verify/hasher.js'
import type { CacheLayout } from './cache-layout.js'

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

/** What gc and verify need of the cache's options. */
export interface MaintenanceOptions {
  readonly lockKind?: LockKind
  readonly hashThread: boolean
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // removed meanwhile
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
 * whose lock is held (a download writing or linking it) is skipped.
 */
export async function gcBlobs(layout: CacheLayout, settings: MaintenanceOptions, options: { maxBytes: number }): Promise<CacheGcReport> {
  const entries = await listBlobs(layout)
  const before = entries.reduce((sum, e) => sum + e.size, 0)
  let total = before
  const removed: CacheEntry[] = []
  const busy: CacheEntry[] = []
  for (const entry of entries) {
    if (total <= options.maxBytes) break
    if (await removeBlob(entry.path, settings)) {
      removed.push(entry)
      total -= entry.size
    } else busy.push(entry)
  }
  await pruneAliases(layout)
  return { bytesBefore: before, bytesAfter: total, removed, busy }
}

/** Removes a blob under its lock; false when the lock is held elsewhere. */
async function removeBlob(path: string, settings: MaintenanceOptions): Promise<boolean> {
  let lock: DestinationLock
  try {
    lock = await acquireLock(lockPathFor(path), { noWait: true, ...(settings.lockKind === undefined ? {} : { kind: settings.lockKind }) })
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
