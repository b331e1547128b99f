import { createHash } from 'node:crypto'
import { mkdir, open, rename, rm, rmdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { HaulError, acquireLock, fsError, isHaulError, lockPathFor, stagingDirFor, type DownloadOptions, type DownloadResult, type HaulEvent } from '@haul/core'
import type { CID } from 'multiformats/cid'
import type { IpfsInput } from './input.js'
import { TreeWalker, exists } from './tree-walk.js'

/** What the lock hands to waiters after a tree was committed, so they need not fetch it again. */
interface TreeRecord {
  kind: 'ipfs-tree'
  source: string
  bytes: number
  sha256: string
}

const DIGEST_OPTIONS = ['sha256', 'sha512', 'sha1', 'md5', 'integrity', 'checksum', 'multihash'] as const

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined)
  await handle?.sync().catch(() => undefined)
  await handle?.close().catch(() => undefined)
}

/**
 * Downloads the directory `root` (reached through `input`) into the folder `options.output`:
 * every file goes through core's transaction into a staging folder beside the destination, and
 * the finished folder is renamed into place at once. Files committed by an interrupted run are
 * kept and not fetched again. `sha256` of the result is that of the tree's manifest: the lines
 * `<sha256>  <relative/path>\n` of every file, sorted by path (what `sha256sum` prints).
 */
export async function downloadDirectory(input: IpfsInput, root: CID, gateways: readonly string[], options: DownloadOptions): Promise<DownloadResult> {
  const emit = (event: HaulEvent): void => {
    try {
      options.onEvent?.(event)
    } catch {
      // A listener's bug must not break the download.
    }
  }
  try {
    return await fetchTree(input, root, gateways, options, emit)
  } catch (err) {
    const error = isHaulError(err) ? err : new HaulError('HAUL_INTERNAL', `Internal error: ${err instanceof Error ? err.message : String(err)}. Please report this.`, { cause: err })
    emit({ event: 'error', code: error.code, message: error.message })
    throw error
  }
}

async function fetchTree(input: IpfsInput, root: CID, gateways: readonly string[], options: DownloadOptions, emit: (e: HaulEvent) => void): Promise<DownloadResult> {
  const given = DIGEST_OPTIONS.filter((k) => options[k] !== undefined)
  if (given.length > 0) throw new HaulError('HAUL_USAGE', `${input.id} is a directory, so a file digest (${given.join(', ')}) cannot apply; drop it or name a file inside the directory.`)
  const destination = resolve(options.output)
  const signal = options.signal ?? new AbortController().signal
  try {
    await mkdir(dirname(destination), { recursive: true })
  } catch (err) {
    throw fsError(err, 'create the folder', dirname(destination))
  }
  const lockPath = lockPathFor(destination)
  const lock = await acquireLock(lockPath, { noWait: options.noWait ?? false, signal, onWait: () => emit({ event: 'wait', output: destination, lock: lockPath }) })
  let record: TreeRecord | undefined
  let tree: string | undefined
  try {
    if ((await exists(destination)) !== undefined) {
      const handed = parseRecord(lock.handedOver)
      if (handed?.source === input.id && (await exists(destination)) === 'directory') {
        emit({ event: 'done', path: destination, bytes: handed.bytes, sha256: handed.sha256, cached: true })
        record = handed
        return { path: destination, bytes: handed.bytes, sha256: handed.sha256, resumedFrom: handed.bytes, source: input.id, cached: true }
      }
      throw new HaulError('HAUL_USAGE', `${destination} already exists; a directory is committed as a whole into a new folder. Remove it or choose another output.`, { path: destination })
    }
    const staged = join(stagingDirFor(destination), `tree-${root.toV1().toString()}`)
    tree = staged
    await mkdir(staged, { recursive: true }).catch((err: unknown) => {
      throw fsError(err, 'create the staging folder', staged)
    })
    const walker = new TreeWalker(gateways, options, emit, signal)
    emit({ event: 'start', source: input.id, output: destination, resumedFrom: 0 })
    await walker.walk(root, staged, '', 0)
    await syncDir(staged)
    try {
      await rename(staged, destination)
    } catch (err) {
      throw fsError(err, 'move the verified folder into place at', destination)
    }
    await syncDir(dirname(destination))
    const manifest = walker.files
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      .map((f) => `${f.sha256}  ${f.path}\n`)
      .join('')
    const sha256 = createHash('sha256').update(manifest).digest('hex')
    record = { kind: 'ipfs-tree', source: input.id, bytes: walker.bytes, sha256 }
    emit({ event: 'done', path: destination, bytes: walker.bytes, sha256 })
    return { path: destination, bytes: walker.bytes, sha256, resumedFrom: walker.resumedFrom, source: walker.lastSource ?? input.id, cached: false }
  } catch (err) {
    // Verified files stay staged for the next run, unless the tree itself is unusable.
    if (tree !== undefined) {
      if (isHaulError(err, 'HAUL_USAGE')) await rm(tree, { recursive: true, force: true }).catch(() => undefined)
      else await rmdir(tree).catch(() => undefined)
    }
    throw err
  } finally {
    await lock.release(record === undefined ? undefined : JSON.stringify(record)).catch(() => undefined)
    await rmdir(stagingDirFor(destination)).catch(() => undefined)
  }
}

function parseRecord(text: string | undefined): TreeRecord | undefined {
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as Partial<TreeRecord>
    return value.kind === 'ipfs-tree' && typeof value.source === 'string' && typeof value.bytes === 'number' && typeof value.sha256 === 'string' ? (value as TreeRecord) : undefined
  } catch {
    return undefined
  }
}
