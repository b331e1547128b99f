import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { copyFile, lstat, mkdir, open, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { HaulError, resolveOptions, runDownload, type DownloadOptions, type HaulEvent, type ReadRequest, type ReadResponse, type Source } from '@haul/core'
import { fsError } from '@haul/core/driver'
import type { CID } from 'multiformats/cid'
import type { GatewayGroup } from './block-fetcher.js'
import { keyOf } from './blocks.js'
import { DEFAULT_MAX_DIRECTORY_ENTRIES, DEFAULT_MAX_TREE_ENTRIES, DEFAULT_TREE_SMALL_FILE_BYTES, DEFAULT_TREE_WRITES_IN_FLIGHT } from './defaults.js'
import { GatewaySource } from './gateway-source.js'
import { TreeBlocks } from './tree-blocks.js'
import { fileSize, loadNode, readFile, walkDirectory, type UnixfsNode } from './unixfs.js'
import { WriteQueue } from './write-queue.js'

function safeName(name: string, dir: CID): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0') || /^\..*\.haul$/.test(name)) {
    throw new HaulError('HAUL_USAGE', `Directory ${dir.toString()} holds an entry named ${JSON.stringify(name)}, which is not a safe file name; download the files you need by path instead.`, { source: dir.toString() })
  }
  return name
}

/** What is at `path`, not following a symlink. */
export async function exists(path: string): Promise<'file' | 'directory' | undefined> {
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

/** How often the walk reports progress while it saves small files. */
const PROGRESS_INTERVAL_MS = 250

/** A file of the tree, as the walk saved it. */
interface Saved {
  target: string
  sha256: string
  bytes: number
  /** Settles when the file is at `target` (small files are written behind the walk). */
  written: Promise<void>
}

/** Opens `path`, fsyncs it and closes it. */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** A name beside `name` that no entry can have (safeName refuses it), for writing before the rename. */
function partName(folder: string, name: string): string {
  return join(folder, `.${name}.part.haul`)
}

/**
 * One file of the tree read from the tree's own stream, where the walk stands: the first read,
 * from byte 0. Any other read (a resumed partial, a retry, another segment) gives way to the
 * per-file gateway sources after it, and the rest of this file is drained from the stream.
 */
class TreeFileSource implements Source {
  readonly id: string
  readonly label: string
  private used = false

  constructor(
    private readonly node: UnixfsNode,
    private readonly size: number,
    private readonly blocks: TreeBlocks,
  ) {
    this.id = `ipfs://${node.cid.toString()}`
    this.label = blocks.label
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    if (this.used || request.offset !== 0) {
      this.blocks.skip(this.node.kind === 'file' ? this.node.links : [])
      throw new HaulError('HAUL_SOURCE', `The tree's CAR serves a file once, from its start; the rest of ${this.id} comes from requests of its own.`, { source: this.label, transient: false })
    }
    this.used = true
    const end = Math.min(request.end ?? this.size, this.size)
    return {
      info: { size: this.size, validator: this.node.cid.toString(), ranges: true },
      offset: 0,
      body: readFile(this.blocks, this.node, 0, end, this.label),
    }
  }
}

/**
 * Walks a directory tree depth first, in the order a gateway's CAR of the whole tree sends it
 * (one stream for the tree: see {@link TreeBlocks}), and saves each file through core's
 * transaction. A file whose CID was saved before in this download is copied, not fetched again;
 * a file an interrupted run committed into the staging tree is kept, and drained from the stream.
 */
export class TreeWalker {
  readonly files: Array<{ path: string; sha256: string }> = []
  bytes = 0
  resumedFrom = 0
  lastSource: string | undefined
  private entries = 0
  /** Files saved in this download, by CID. */
  private readonly saved = new Map<string, Saved>()
  private blocks: TreeBlocks | undefined
  /** Small files being written behind the walk. */
  private readonly writes = new WriteQueue(DEFAULT_TREE_WRITES_IN_FLIGHT)
  /** Folders that got new entries: fsynced before the tree is committed. */
  private readonly folders = new Set<string>()
  private lastProgress = 0
  private readonly started = Date.now()

  /** @param group the download's gateways (the same as `gateways`), whose transport every request goes through */
  constructor(
    private readonly gateways: readonly string[],
    private readonly group: GatewayGroup,
    private readonly options: DownloadOptions,
    private readonly emit: (e: HaulEvent) => void,
    private readonly signal: AbortSignal,
  ) {}

  /** Saves the tree under `dir` into `folder` (`prefix` is its path in the tree; the root is ''). */
  async walk(dir: CID, folder: string, prefix: string, depth: number): Promise<void> {
    const opened = this.blocks === undefined
    const { retries, backoff } = resolveOptions(this.options)
    const blocks = (this.blocks ??= await TreeBlocks.open(dir, this.group, { retries, ...(backoff === undefined ? {} : { backoff }), signal: this.signal }))
    try {
      await this.walkNode(await loadNode(blocks, dir, blocks.label), folder, prefix, depth)
      if (opened) {
        await this.writes.drain()
        for (const f of this.folders) await this.writes.add(() => syncPath(f).catch((err: unknown) => Promise.reject(fsError(err, 'sync the folder', f))))
        await this.writes.drain()
      }
    } finally {
      if (opened) {
        await blocks.close()
        this.blocks = undefined
      }
    }
  }

  private async walkNode(node: UnixfsNode, folder: string, prefix: string, depth: number): Promise<void> {
    if (depth > 64) throw new HaulError('HAUL_USAGE', `The directory tree is deeper than 64 levels at ${prefix}.`)
    const blocks = this.blocks!
    const names = new Set<string>()
    await walkDirectory(blocks, node, blocks.label, async (entry) => {
      this.signal.throwIfAborted()
      const name = safeName(entry.name, node.cid)
      if (names.has(name)) throw new HaulError('HAUL_USAGE', `Directory ${node.cid.toString()} names ${JSON.stringify(name)} twice.`)
      names.add(name)
      if (names.size > DEFAULT_MAX_DIRECTORY_ENTRIES) throw new HaulError('HAUL_USAGE', `Directory ${node.cid.toString()} has more than ${DEFAULT_MAX_DIRECTORY_ENTRIES} entries; download the files you need by path.`)
      if (++this.entries > DEFAULT_MAX_TREE_ENTRIES) throw new HaulError('HAUL_USAGE', `The tree has more than ${DEFAULT_MAX_TREE_ENTRIES} entries; download the parts you need by path.`)
      const target = join(folder, name)
      const path = prefix === '' ? name : `${prefix}/${name}`
      const key = keyOf(entry.cid)
      if ((await exists(target)) === 'file') {
        // Committed by an earlier run into this root's staging tree: verified then, kept now.
        blocks.skip([entry.cid])
        const done = await sha256File(target)
        this.saved.set(key, { target, ...done, written: Promise.resolve() })
        this.record(path, done, true)
        return
      }
      this.folders.add(folder)
      const twin = this.saved.get(key)
      if (twin !== undefined) {
        blocks.skip([entry.cid])
        const { done: written } = await this.writes.add(async () => {
          await twin.written
          await this.copy(twin.target, target, folder, name)
        })
        this.saved.set(key, { ...twin, written: Promise.all([twin.written, written]).then(() => undefined) })
        this.record(path, twin, false)
        return
      }
      const child = await loadNode(blocks, entry.cid, blocks.label)
      if (child.kind === 'directory' || child.kind === 'hamt') {
        await mkdir(target, { recursive: true }).catch((err: unknown) => {
          throw fsError(err, 'create the folder', target)
        })
        await this.walkNode(child, target, path, depth + 1)
        return
      }
      const size = fileSize(child)
      if (size === undefined) throw new HaulError('HAUL_USAGE', `${path} in ${node.cid.toString()} is a UnixFS ${child.kind === 'other' ? child.type : child.kind}, not a file or directory.`, { source: entry.cid.toString() })
      const got = size <= DEFAULT_TREE_SMALL_FILE_BYTES ? await this.smallFile(child, size, target, partName(folder, name)) : { ...(await this.file(child, size, target)), written: Promise.resolve() }
      this.saved.set(key, { target, ...got })
      this.record(path, got, false)
    })
  }

  /**
   * Reads a small file whole from the tree's stream (verified block by block) and leaves its write
   * to the queue: to a temporary name, fsynced, renamed. A present file is thus always whole and
   * on disk, so a later run may keep it.
   */
  private async smallFile(node: UnixfsNode, size: number, target: string, temp: string): Promise<{ sha256: string; bytes: number; written: Promise<void> }> {
    const hash = createHash('sha256')
    const parts: Buffer[] = []
    for await (const part of readFile(this.blocks!, node, 0, size, this.blocks!.label)) {
      hash.update(part)
      parts.push(Buffer.from(part))
    }
    const { done: written } = await this.writes.add(async () => {
      try {
        const handle = await open(temp, 'w')
        try {
          if (parts.length > 0) await handle.writev(parts)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temp, target)
      } catch (err) {
        throw fsError(err, 'write a file of the tree to', target)
      }
    })
    this.lastSource = this.blocks!.label
    return { sha256: hash.digest('hex'), bytes: size, written }
  }

  private record(path: string, file: { sha256: string; bytes: number }, resumed: boolean): void {
    this.files.push({ path, sha256: file.sha256 })
    this.bytes += file.bytes
    if (resumed) this.resumedFrom += file.bytes
    // Small files make no events of their own: a progress line now and then, from the walk.
    const now = Date.now()
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) return
    this.lastProgress = now
    this.emit({ event: 'progress', bytes: this.bytes, bytesPerSecond: Math.round((this.bytes * 1000) / Math.max(1, now - this.started)), connections: 1 })
  }

  /** Copies a file saved earlier under another name, by a temporary name and fsynced, so a kill leaves no partial. */
  private async copy(from: string, target: string, folder: string, name: string): Promise<void> {
    const temp = partName(folder, name)
    try {
      await copyFile(from, temp)
      await syncPath(temp)
      await rename(temp, target)
    } catch (err) {
      throw fsError(err, 'copy a file of the tree to', target)
    }
  }

  /** Saves one file into `target` through core's transaction: from the tree's stream, else from each gateway. */
  private async file(node: UnixfsNode, size: number, target: string): Promise<{ sha256: string; bytes: number }> {
    const base = this.bytes
    const { sha256: _a, sha512: _b, sha1: _c, md5: _d, integrity: _e, checksum: _f, multihash: _g, size: _h, output: _i, onEvent: _j, ...pass } = this.options
    const cid = node.cid.toString()
    const sources: Source[] = [new TreeFileSource(node, size, this.blocks!), ...this.gateways.map((g) => new GatewaySource(g, cid, { group: this.group }))]
    const result = await runDownload(sources, {
      ...pass,
      output: target,
      signal: this.signal,
      onEvent: (e) => {
        if (e.event === 'progress') this.emit({ ...e, bytes: base + e.bytes, total: undefined })
        else if (e.event === 'retry' || e.event === 'source') this.emit(e)
      },
    })
    this.lastSource = result.source
    return { sha256: result.sha256, bytes: result.bytes }
  }
}
