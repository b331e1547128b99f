import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, mkdir, rm, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  HaulError,
  isHaulError,
  runDownload,
  type DownloadOptions,
  type DownloadResult,
  type HaulEvent,
  type ReadRequest,
  type ReadResponse,
  type Source,
} from '@haul/core'
import { backoffDelay, commitFolder, ensureDir, fsError, recordDescribes, sleep, withDestination } from '@haul/core/driver'
import type { Transport } from '@haul/http'
import type { CID } from 'multiformats/cid'
import { DEFAULT_MAX_TREE_ENTRIES } from './defaults.js'
import { DirectoryNodeError, GatewaySource } from './gateway-source.js'
import type { IpfsInput } from './input.js'
import type { DirectoryLink } from './unixfs.js'

const DIGEST_OPTIONS = ['sha256', 'sha512', 'sha1', 'md5', 'integrity', 'checksum', 'multihash'] as const

function safeName(name: string, dir: CID): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0') || /^\..*\.haul$/.test(name)) {
    throw new HaulError('HAUL_USAGE', `Directory ${dir.toString()} holds an entry named ${JSON.stringify(name)}, which is not a safe file name; download the files you need by path instead.`, { source: dir.toString() })
  }
  return name
}

async function exists(path: string): Promise<'file' | 'directory' | undefined> {
  const st = await lstat(path).catch(() => undefined)
  if (st === undefined) return undefined
  return st.isDirectory() ? 'directory' : 'file'
}

async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes }
}

/** Wraps a gateway's source so that a lie is remembered for every later file of the tree. */
class WatchedSource implements Source {
  constructor(
    private readonly inner: GatewaySource,
    private readonly liars: Set<string>,
  ) {}

  get id(): string {
    return this.inner.id
  }

  get label(): string {
    return this.inner.label
  }

  private note(err: unknown): never {
    if (isHaulError(err, 'HAUL_INTEGRITY')) this.liars.add(this.inner.label)
    throw err
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    const response = await this.inner.read(request).catch((err: unknown) => this.note(err))
    const note = (err: unknown): never => this.note(err)
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        yield* response.body
      } catch (err) {
        note(err)
      }
    }
    return { ...response, body: body() }
  }
}

/**
 * Downloads the directory `root` (reached through `input`) into the folder `options.output`:
 * every file goes through core's transaction into a staging folder beside the destination, and
 * the finished folder is renamed into place at once. Files committed by an interrupted run are
 * kept and not fetched again. `sha256` of the result is that of the tree's manifest: the lines
 * `<sha256>  <relative/path>\n` of every file, sorted by path (what `sha256sum` prints).
 */
export async function downloadDirectory(input: IpfsInput, root: CID, gateways: readonly string[], transport: Transport, options: DownloadOptions): Promise<DownloadResult> {
  const emit = (event: HaulEvent): void => {
    try {
      options.onEvent?.(event)
    } catch {
      // A listener's bug must not break the download.
    }
  }
  try {
    return await fetchTree(input, root, gateways, transport, options, emit)
  } catch (err) {
    const error = isHaulError(err) ? err : new HaulError('HAUL_INTERNAL', `Internal error: ${err instanceof Error ? err.message : String(err)}. Please report this.`, { cause: err })
    emit({ event: 'error', code: error.code, message: error.message })
    throw error
  }
}

async function fetchTree(input: IpfsInput, root: CID, gateways: readonly string[], transport: Transport, options: DownloadOptions, emit: (e: HaulEvent) => void): Promise<DownloadResult> {
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
      const walker = new TreeWalker(gateways, transport, options, emit, signal)
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

/** Walks the tree depth first, one file transaction at a time. */
class TreeWalker {
  readonly files: Array<{ path: string; sha256: string }> = []
  bytes = 0
  resumedFrom = 0
  lastSource: string | undefined
  private entries = 0
  private readonly liars = new Set<string>()

  constructor(
    private readonly gateways: readonly string[],
    private readonly transport: Transport,
    private readonly options: DownloadOptions,
    private readonly emit: (e: HaulEvent) => void,
    private readonly signal: AbortSignal,
  ) {}

  private sources(cid: CID): GatewaySource[] {
    const usable = this.gateways.map((g) => new GatewaySource(g, cid.toString(), { transport: this.transport })).filter((s) => !this.liars.has(s.label))
    if (usable.length === 0) {
      throw new HaulError('HAUL_INTEGRITY', `Every gateway (${this.gateways.join(', ')}) sent data that failed verification. Nothing was saved.`, { source: cid.toString() })
    }
    return usable
  }

  /** Lists one directory, trying the gateways in turn with core's backoff between rounds. */
  private async list(cid: CID): Promise<DirectoryLink[]> {
    const retries = this.options.retries ?? 5
    let last: unknown
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      for (const source of this.sources(cid)) {
        try {
          return await source.list(this.signal)
        } catch (err) {
          if (this.signal.aborted) throw err
          if (!isHaulError(err) || (err.code !== 'HAUL_SOURCE' && err.code !== 'HAUL_INTEGRITY')) throw err
          if (err.code === 'HAUL_INTEGRITY') this.liars.add(source.label)
          last = err
        }
      }
      if (attempt <= retries) {
        const delayMs = backoffDelay(attempt, this.options.backoff)
        this.emit({ event: 'retry', attempt: attempt + 1, delayMs, reason: last instanceof Error ? last.message : String(last), source: cid.toString() })
        await sleep(delayMs, this.signal)
      }
    }
    throw last
  }

  /** Fetches one file into `target`; resolves to its sha256, or to the directory it turned out to be. */
  private async file(cid: CID, target: string): Promise<{ sha256: string; bytes: number } | { directory: CID }> {
    const base = this.bytes
    const { sha256: _a, sha512: _b, sha1: _c, md5: _d, integrity: _e, checksum: _f, multihash: _g, size: _h, output: _i, onEvent: _j, ...pass } = this.options
    try {
      const result = await runDownload(
        this.sources(cid).map((s) => new WatchedSource(s, this.liars)),
        {
          ...pass,
          output: target,
          signal: this.signal,
          onEvent: (e) => {
            if (e.event === 'progress') this.emit({ ...e, bytes: base + e.bytes, total: undefined })
            else if (e.event === 'retry' || e.event === 'source') this.emit(e)
          },
        },
      )
      this.lastSource = result.source
      return { sha256: result.sha256, bytes: result.bytes }
    } catch (err) {
      if (err instanceof DirectoryNodeError) return { directory: err.directory }
      throw err
    }
  }

  async walk(dir: CID, folder: string, prefix: string, depth: number): Promise<void> {
    if (depth > 64) throw new HaulError('HAUL_USAGE', `The directory tree is deeper than 64 levels at ${prefix}.`)
    const listing = await this.list(dir)
    const names = new Set<string>()
    for (const entry of listing) {
      this.signal.throwIfAborted()
      const name = safeName(entry.name, dir)
      if (names.has(name)) throw new HaulError('HAUL_USAGE', `Directory ${dir.toString()} names ${JSON.stringify(name)} twice.`)
      names.add(name)
      if (++this.entries > DEFAULT_MAX_TREE_ENTRIES) throw new HaulError('HAUL_USAGE', `The tree has more than ${DEFAULT_MAX_TREE_ENTRIES} entries; download the parts you need by path.`)
      const target = join(folder, name)
      const path = prefix === '' ? name : `${prefix}/${name}`
      const present = await exists(target)
      if (present === 'file') {
        // Committed by an earlier run into this root's staging tree: verified then, kept now.
        const done = await sha256File(target)
        this.files.push({ path, sha256: done.sha256 })
        this.bytes += done.bytes
        this.resumedFrom += done.bytes
        continue
      }
      const got = present === 'directory' ? { directory: entry.cid } : await this.file(entry.cid, target)
      if ('directory' in got) {
        await mkdir(target, { recursive: true }).catch((err: unknown) => {
          throw fsError(err, 'create the folder', target)
        })
        await this.walk(got.directory, target, path, depth + 1)
        continue
      }
      this.files.push({ path, sha256: got.sha256 })
      this.bytes += got.bytes
    }
  }
}
