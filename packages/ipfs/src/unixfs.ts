import { HaulError } from '@haul/core'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import type { BlockGetter } from './blocks.js'
import { DEFAULT_MAX_DAG_DEPTH } from './defaults.js'
import { integrityError } from './errors.js'
import { followIpldPath, isPathCodec } from './ipld-path.js'

/** A decoded, verified node of a UnixFS DAG. */
export type UnixfsNode =
  | { kind: 'raw'; cid: CID; bytes: Uint8Array }
  | { kind: 'file'; cid: CID; data: Uint8Array; links: CID[]; sizes: number[]; size: number }
  | { kind: 'directory'; cid: CID; links: dagPb.PBLink[] }
  | { kind: 'hamt'; cid: CID; links: dagPb.PBLink[]; fanout: number }
  | { kind: 'other'; cid: CID; type: string }

const HAMT_HASH_MURMUR3_X64_64 = 0x22
/** Largest size a file may claim; beyond it the DAG is lying (or not worth trying). */
const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER

/** Decodes a verified block into a UnixFS node; structural nonsense is HAUL_INTEGRITY. */
export function decodeNode(cid: CID, bytes: Uint8Array, label: string): UnixfsNode {
  if (cid.code === raw.code) return { kind: 'raw', cid, bytes }
  if (cid.code !== dagPb.code) throw integrityError(`Block ${cid.toString()} has codec 0x${cid.code.toString(16)}, which is not part of a UnixFS file.`, label)
  let node: dagPb.PBNode
  let fs: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data === undefined) throw new Error('dag-pb node without UnixFS data')
    fs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw integrityError(`Block ${cid.toString()} is not a valid UnixFS node.`, label, err)
  }
  if (fs.type === 'file' || fs.type === 'raw') {
    const data = fs.data ?? new Uint8Array(0)
    if (node.Links.length !== fs.blockSizes.length) {
      throw integrityError(`UnixFS node ${cid.toString()} has ${node.Links.length} links but ${fs.blockSizes.length} block sizes.`, label)
    }
    let size = data.length
    const sizes: number[] = []
    for (const s of fs.blockSizes) {
      if (s <= 0n || s > BigInt(MAX_FILE_SIZE)) throw integrityError(`UnixFS node ${cid.toString()} claims a child of ${s} bytes.`, label)
      size += Number(s)
      sizes.push(Number(s))
    }
    if (size > MAX_FILE_SIZE) throw integrityError(`UnixFS node ${cid.toString()} claims ${size} bytes, which is absurd.`, label)
    return { kind: 'file', cid, data, links: node.Links.map((l) => l.Hash), sizes, size }
  }
  if (fs.type === 'directory') return { kind: 'directory', cid, links: node.Links }
  if (fs.type === 'hamt-sharded-directory') {
    const fanout = Number(fs.fanout ?? 0n)
    // ipfs-unixfs does not always surface hashType; murmur3-x64-64 is the only one in use.
    if ((fs.hashType !== undefined && fs.hashType !== BigInt(HAMT_HASH_MURMUR3_X64_64)) || fanout < 2 || fanout > 1024 || (fanout & (fanout - 1)) !== 0) {
      throw integrityError(`HAMT shard ${cid.toString()} has an unsupported hash or fanout.`, label)
    }
    return { kind: 'hamt', cid, links: node.Links, fanout }
  }
  return { kind: 'other', cid, type: fs.type }
}

/** Fetches, verifies and decodes one node. */
export async function loadNode(blocks: BlockGetter, cid: CID, label: string): Promise<UnixfsNode> {
  return decodeNode(cid, await blocks.get(cid), label)
}

/** Bits of `hash`, most significant first, starting at bit `from`. */
function takeBits(hash: Uint8Array, from: number, count: number): number {
  let out = 0
  for (let i = from; i < from + count; i++) {
    const byte = hash[i >> 3] ?? 0
    out = (out << 1) | ((byte >> (7 - (i & 7))) & 1)
  }
  return out
}

function notFound(name: string, dir: CID): HaulError {
  return new HaulError('HAUL_USAGE', `There is no entry ${JSON.stringify(name)} in directory ${dir.toString()}; check the path.`, { source: dir.toString() })
}

/** Looks a name up in a HAMT-sharded directory, walking (and verifying) only the shards on its way. */
async function hamtLookup(blocks: BlockGetter, shard: UnixfsNode & { kind: 'hamt' }, name: string, label: string): Promise<CID> {
  // go-ipfs's HAMT uses the first 64 bits of murmur3-x64-128, read from the most significant bit.
  // Loaded on first use: only a HAMT-sharded directory needs it.
  const { murmur3128 } = await import('@multiformats/murmur3')
  const hash = (await murmur3128.encode(new TextEncoder().encode(name))).subarray(0, 8)
  const bits = Math.log2(shard.fanout)
  const pad = (shard.fanout - 1).toString(16).length
  let node = shard
  for (let used = 0; used + bits <= hash.length * 8; used += bits) {
    const label2 = takeBits(hash, used, bits).toString(16).toUpperCase().padStart(pad, '0')
    const link = node.links.find((l) => (l.Name ?? '').startsWith(label2))
    if (link === undefined) throw notFound(name, shard.cid)
    const linkName = link.Name ?? ''
    if (linkName === label2 + name) return link.Hash
    if (linkName.length !== pad) throw notFound(name, shard.cid)
    const next = await loadNode(blocks, link.Hash, label)
    if (next.kind !== 'hamt' || next.fanout !== shard.fanout) throw integrityError(`HAMT shard ${link.Hash.toString()} is not a shard of the same fanout.`, label)
    node = next
  }
  throw notFound(name, shard.cid)
}

/**
 * Follows `path` from `root`, verifying every block on the way: UnixFS directories (and HAMT
 * shards) by entry name, dag-cbor and dag-json nodes by the IPLD data model's keys and indices
 * (a link found there is followed, and the path goes on from the linked block). The node at the
 * end must be UnixFS.
 */
export async function resolvePath(blocks: BlockGetter, root: CID, path: readonly string[], label: string): Promise<UnixfsNode> {
  let cid = root
  let rest = [...path]
  for (let hops = 0; ; hops++) {
    if (hops > DEFAULT_MAX_DAG_DEPTH + path.length) throw integrityError(`The path under ${root.toString()} goes through more than ${DEFAULT_MAX_DAG_DEPTH + path.length} blocks.`, label)
    if (isPathCodec(cid)) {
      if (rest.length === 0) {
        throw new HaulError('HAUL_USAGE', `The path /${path.join('/')} leads to ${cid.toString()}, a ${cid.code === 0x71 ? 'dag-cbor' : 'dag-json'} node, not a UnixFS file; haul downloads UnixFS files.`, { source: root.toString() })
      }
      const step = await followIpldPath(cid, await blocks.get(cid), rest, label)
      cid = step.link
      rest = step.rest
      continue
    }
    const node = await loadNode(blocks, cid, label)
    const name = rest.shift()
    if (name === undefined) return node
    if (node.kind === 'directory') {
      const link = node.links.find((l) => l.Name === name)
      if (link === undefined) throw notFound(name, node.cid)
      cid = link.Hash
    } else if (node.kind === 'hamt') {
      cid = await hamtLookup(blocks, node, name, label)
    } else {
      throw new HaulError('HAUL_USAGE', `${node.cid.toString()} is not a directory, so it has no entry ${JSON.stringify(name)}.`)
    }
  }
}

/** Size in bytes of a file node. */
export function fileSize(node: UnixfsNode): number | undefined {
  if (node.kind === 'raw') return node.bytes.length
  if (node.kind === 'file') return node.size
  return undefined
}

function slice(bytes: Uint8Array, start: number, offset: number, end: number): Uint8Array | undefined {
  const from = Math.max(0, offset - start)
  const to = Math.min(bytes.length, end - start)
  return to > from ? bytes.subarray(from, to) : undefined
}

/**
 * Yields the file's bytes in [offset, end), in order, from a verified root node. Subtrees wholly
 * before `offset` or after `end` are skipped by their block sizes, without fetching them. Every
 * child is checked against the size its parent claims, so no byte lands at a wrong offset.
 */
export async function* readFile(blocks: BlockGetter, root: UnixfsNode, offset: number, end: number, label: string): AsyncGenerator<Uint8Array> {
  async function* walk(node: UnixfsNode, start: number, claimed: number | undefined, depth: number): AsyncGenerator<Uint8Array> {
    if (depth > DEFAULT_MAX_DAG_DEPTH) throw integrityError(`The DAG under ${root.cid.toString()} is deeper than ${DEFAULT_MAX_DAG_DEPTH} levels.`, label)
    const size = fileSize(node)
    if (size === undefined) throw integrityError(`Block ${node.cid.toString()} inside a file is not file data.`, label)
    if (claimed !== undefined && size !== claimed) {
      throw integrityError(`Block ${node.cid.toString()} holds ${size} bytes but its parent claims ${claimed}.`, label)
    }
    if (node.kind === 'raw') {
      const part = slice(node.bytes, start, offset, end)
      if (part !== undefined) yield part
      // The consumer asked for more, so it is done with `part`.
      blocks.release?.(node.bytes)
      return
    }
    if (node.kind !== 'file') return
    const own = slice(node.data, start, offset, end)
    if (own !== undefined) yield own
    let pos = start + node.data.length
    const wanted: Array<{ cid: CID; pos: number; size: number }> = []
    for (let i = 0; i < node.links.length; i++) {
      const childSize = node.sizes[i] ?? 0
      const cid = node.links[i]
      if (cid !== undefined && pos + childSize > offset && pos < end) wanted.push({ cid, pos, size: childSize })
      pos += childSize
    }
    blocks.hint?.(wanted.map((w) => w.cid))
    for (const child of wanted) {
      yield* walk(await loadNode(blocks, child.cid, label), child.pos, child.size, depth + 1)
    }
  }
  yield* walk(root, 0, undefined, 0)
}

/** One entry of a UnixFS directory. */
export interface DirectoryLink {
  name: string
  cid: CID
}

/**
 * Visits the entries of a verified directory node in link order; for a HAMT shard, loads (and
 * verifies) each sub-shard where it stands among the links, so the visit follows the DAG depth
 * first, as a gateway's CAR sends it. Each node's links are hinted before they are visited.
 */
export async function walkDirectory(blocks: BlockGetter, node: UnixfsNode, label: string, visit: (entry: DirectoryLink) => Promise<void>): Promise<void> {
  if (node.kind === 'directory') {
    blocks.hint?.(node.links.map((l) => l.Hash))
    for (const link of node.links) await visit({ name: link.Name ?? '', cid: link.Hash })
    return
  }
  if (node.kind !== 'hamt') throw new HaulError('HAUL_USAGE', `${node.cid.toString()} is not a directory.`)
  const pad = (node.fanout - 1).toString(16).length
  const walk = async (shard: UnixfsNode & { kind: 'hamt' }, depth: number): Promise<void> => {
    if (depth > DEFAULT_MAX_DAG_DEPTH) throw integrityError(`HAMT ${node.cid.toString()} is deeper than ${DEFAULT_MAX_DAG_DEPTH} levels.`, label)
    blocks.hint?.(shard.links.map((l) => l.Hash))
    for (const link of shard.links) {
      const name = link.Name ?? ''
      if (name.length > pad) {
        await visit({ name: name.slice(pad), cid: link.Hash })
        continue
      }
      if (name.length !== pad) throw integrityError(`HAMT shard ${shard.cid.toString()} has a link named ${JSON.stringify(name)}.`, label)
      const sub = await loadNode(blocks, link.Hash, label)
      if (sub.kind !== 'hamt' || sub.fanout !== node.fanout) throw integrityError(`HAMT shard ${link.Hash.toString()} is not a shard of the same fanout.`, label)
      await walk(sub, depth + 1)
    }
  }
  await walk(node, 0)
}
