import { createHash } from 'node:crypto'
import { lstat, rm, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { HaulError, isHaulError, type DownloadOptions, type DownloadResult, type HaulEvent } from '@haul/core'
import { commitFolder, ensureDir, fsError, recordDescribes, withDestination } from '@haul/core/driver'
import type { CID } from 'multiformats/cid'
import type { GatewayGroup } from './block-fetcher.js'
import type { IpfsInput } from './input.js'
import { TreeWalker } from './tree-walk.js'

const DIGEST_OPTIONS = ['sha256', 'sha512', 'sha1', 'md5', 'integrity', 'checksum', 'multihash'] as const

/**
 * Downloads the directory `root` (reached through `input`) into the folder `options.output`:
 * every file goes through core's transaction into a staging folder beside the destination, and
 * the finished folder is renamed into place at once. Files committed by an interrupted run are
 * kept and not fetched again. `sha256` of the result is that of the tree's manifest: the lines
 * `<sha256>  <relative/path>\n` of every file, sorted by path (what `sha256sum` prints).
 */
export async function downloadDirectory(input: IpfsInput, root: CID, gateways: readonly string[], group: GatewayGroup, options: DownloadOptions): Promise<DownloadResult> {
  const emit = (event: HaulEvent): void => {
    try {
      options.onEvent?.(event)
    } catch {
      // A listener's bug must not break the download.
    }
  }
  try {
    return await fetchTree(input, root, gateways, group, options, emit)
  } catch (err) {
    const error = isHaulError(err) ? err : new HaulError('HAUL_INTERNAL', `Internal error: ${err instanceof Error ? err.message : String(err)}. Please report this.`, { cause: err })
    emit({ event: 'error', code: error.code, message: error.message })
    throw error
  }
}

async function fetchTree(input: IpfsInput, root: CID, gateways: readonly string[], group: GatewayGroup, options: DownloadOptions, emit: (e: HaulEvent) => void): Promise<DownloadResult> {
  const given = DIGEST_OPTIONS.filter((k) => options[k] !== undefined)
  if (given.length > 0) throw new HaulError('HAUL_USAGE', `${input.id} is a directory, so a file digest (${given.join(', ')}) cannot apply; drop it or name a file inside the directory.`)
  const destination = resolve(options.output)
  const signal = options.signal ?? new AbortController().signal
  const shell = { noWait: options.noWait ?? false, signal, onWait: (lock: string) => emit({ event: 'wait', output: destination, lock }), ...(options.lockKind === undefined ? {} : { lockKind: options.lockKind }) }
  return withDestination<DownloadResult>(destination, shell, async (held) => {
    const present = await lstat(destination).catch(() => undefined)
    if (present !== undefined) {
      const handed = held.handedOver
      if (handed?.source === input.id && handed.digests.sha256 !== undefined && present.isDirectory() && recordDescribes(handed, present)) {
        emit({ event: 'done', path: destination, bytes: handed.size, sha256: handed.digests.sha256, cached: true })
        return { result: { path: destination, bytes: handed.size, sha256: handed.digests.sha256, resumedFrom: handed.size, source: input.id, cached: true }, committed: handed }
      }
      throw new HaulError('HAUL_USAGE', `${destination} already exists; a directory is committed as a whole into a new folder. Remove it or choose another output.`, { path: destination })
    }
    const staged = join(held.stagingDir, `tree-${root.toV1().toString()}`)
    try {
      await ensureDir(staged).catch((err: unknown) => {
        throw fsError(err, 'create the staging folder', staged)
      })
      const walker = new TreeWalker(gateways, group, options, emit, signal)
      emit({ event: 'start', source: input.id, output: destination, resumedFrom: 0 })
      await walker.walk(root, staged, '', 0)
      await commitFolder(staged, destination, { fsync: options.fsync ?? true })
      const manifest = walker.files
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        .map((f) => `${f.sha256}  ${f.path}\n`)
        .join('')
      const sha256 = createHash('sha256').update(manifest).digest('hex')
      emit({ event: 'done', path: destination, bytes: walker.bytes, sha256 })
      return {
        result: { path: destination, bytes: walker.bytes, sha256, resumedFrom: walker.resumedFrom, source: walker.lastSource ?? input.id, cached: false },
        committed: { source: input.id, size: walker.bytes, digests: { sha256 } },
      }
    } catch (err) {
      // Verified files stay staged for the next run, unless the tree itself is unusable.
      if (isHaulError(err, 'HAUL_USAGE')) await rm(staged, { recursive: true, force: true }).catch(() => undefined)
      else await rmdir(staged).catch(() => undefined)
      throw err
    }
  })
}
