import { MemoryBlockstore } from 'blockstore-core/memory'
import { importer, type ImporterOptions } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagPb from '@ipld/dag-pb'

/** How a file is chunked and linked. */
export type FileProfile =
  /** kubo's long-standing defaults: CIDv0, dag-pb leaves, 256 KiB chunks, balanced (174 links). */
  | 'kubo'
  /** CIDv1 with raw leaves, 256 KiB chunks, balanced (174 links). */
  | 'raw-leaves'

/** Options for {@link UnixfsStore.addFile}. */
export interface AddFileOptions {
  /** @default 'kubo' */
  profile?: FileProfile
  /** Chunk size in bytes. @default 262144 */
  chunkSize?: number
  /** Links per intermediate node (smaller values make deeper trees with small files). @default 174 */
  maxChildrenPerNode?: number
}

/** One entry of a directory to add. */
export interface DirectoryEntry {
  /** Relative path, `a/b.txt`. */
  path: string
  content: Uint8Array
}

/** Options for {@link UnixfsStore.addDirectory}. */
export interface AddDirectoryOptions extends AddFileOptions {
  /**
   * Serialized directory size above which the importer shards it into a HAMT; pass a small
   * value (e.g. 1) to force sharding with few entries.
   * @default 262144
   */
  shardSplitThresholdBytes?: number
}

/** The CIDs of an added directory. */
export interface AddedDirectory {
  /** The root directory. */
  cid: CID
  /** Every entry's CID by its relative path (files and sub-directories). */
  entries: Map<string, CID>
}

function importerOptions(options: AddDirectoryOptions): ImporterOptions {
  const profile = options.profile ?? 'kubo'
  const chunkSize = options.chunkSize ?? 256 * 1024
  const maxChildrenPerNode = options.maxChildrenPerNode ?? 174
  const base: ImporterOptions = {
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode }),
    ...(options.shardSplitThresholdBytes === undefined ? {} : { shardSplitThresholdBytes: options.shardSplitThresholdBytes }),
  }
  return profile === 'kubo'
    ? { ...base, cidVersion: 0, rawLeaves: false, reduceSingleLeafToSelf: true, shardSplitStrategy: 'links-bytes' }
    : { ...base, cidVersion: 1, rawLeaves: true, reduceSingleLeafToSelf: true }
}

/**
 * An in-memory blockstore filled by the reference UnixFS importer. Several test gateways can
 * share one store, so that they serve the same content.
 */
export class UnixfsStore {
  readonly blockstore = new MemoryBlockstore()

  /** Imports a file; returns its root CID. */
  async addFile(content: Uint8Array, options: AddFileOptions = {}): Promise<CID> {
    let root: CID | undefined
    for await (const entry of importer([{ content }], this.blockstore, importerOptions(options))) root = entry.cid
    if (root === undefined) throw new Error('the importer returned no entry')
    return root
  }

  /** Imports a directory of files (wrapped in one root); returns the root and every entry's CID. */
  async addDirectory(files: DirectoryEntry[], options: AddDirectoryOptions = {}): Promise<AddedDirectory> {
    const entries = new Map<string, CID>()
    let root: CID | undefined
    const input = files.map((f) => ({ path: f.path, content: f.content }))
    for await (const entry of importer(input, this.blockstore, { ...importerOptions(options), wrapWithDirectory: true })) {
      if (entry.path === '' || entry.path === undefined) root = entry.cid
      else entries.set(entry.path, entry.cid)
    }
    if (root === undefined) throw new Error('the importer returned no root')
    return { cid: root, entries }
  }

  /** Stores a block as is (for hand-made, possibly lying, DAGs); returns its CIDv1. */
  async putBlock(bytes: Uint8Array, codec: 'raw' | 'dag-pb' = 'raw'): Promise<CID> {
    const cid = CID.createV1(codec === 'raw' ? raw.code : dagPb.code, await sha256.digest(bytes))
    await this.blockstore.put(cid, bytes)
    return cid
  }

  /** The block's bytes, or undefined when the store lacks it. */
  getBlock(cid: CID): Uint8Array | undefined {
    if (!(this.blockstore.has(cid) as boolean)) return undefined
    const parts: Uint8Array[] = []
    for (const part of this.blockstore.get(cid) as Iterable<Uint8Array>) parts.push(part)
    if (parts.length === 1 && parts[0] !== undefined) return parts[0]
    return Buffer.concat(parts)
  }
}
