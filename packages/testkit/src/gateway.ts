import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { UnixfsStore } from './unixfs-fixtures.js'

export { UnixfsStore } from './unixfs-fixtures.js'
export type { AddFileOptions, AddDirectoryOptions, AddedDirectory, DirectoryEntry, FileProfile } from './unixfs-fixtures.js'

/** What a gateway does wrong on one request. Every field is optional; several may combine. */
export interface GatewayFault {
  /** Flip a byte in these blocks of the response (0-based index in the response), or in all. */
  corruptBlocks?: number[] | 'all'
  /** Answer with this status and no content (e.g. 429, 503, 404, 500). */
  status?: number
  /** `Retry-After` header sent with `status`. */
  retryAfter?: string
  /** Answer 200 with an HTML page instead of the content. */
  html200?: boolean
  /** Destroy the connection after this many body bytes. */
  dropAfter?: number
  /** Send the body no faster than this. */
  rateBytesPerSecond?: number
  /** Refuse CAR (406, or the given status); raw blocks still work. */
  noCar?: boolean | 400 | 406 | 415
  /** End a CAR body cleanly after this many bytes (a gateway that stops early without error). */
  truncateCar?: number
  /** Send the CAR's blocks in reverse order (a gateway whose order is not DFS). */
  reverseBlocks?: boolean
  /** Put this many valid but unrelated 64 KiB blocks in front of a CAR's blocks. */
  extraBlocks?: number
  /** Name an unrelated CID as the CAR's root (the blocks stay the requested ones). */
  wrongRoot?: boolean
  /** Send each block of a CAR once and say `dups=n` (a gateway that ignores `car-dups=y`). */
  noDups?: boolean
  /** Leave these blocks (0-based index in the response) out of a CAR, which goes on with the next. */
  omitBlocks?: number[]
  /**
   * Blocks (CID strings, any version) this gateway does not have: left out of CARs, 404 as raw
   * blocks. A path or entity CAR that needs one of them for its proof still skips it.
   */
  lacks?: string[]
}

/** Options for {@link startGateway}. */
export interface GatewayOptions {
  /** Content to serve; shared between gateways that should serve the same DAGs. @default a new store */
  store?: UnixfsStore
  /** Fault for the n-th request (0-based); `undefined` entries and requests past the end behave. */
  faults?: Array<GatewayFault | undefined>
  /** Fault for every request that `faults` does not script. */
  fault?: GatewayFault
  /** The server closes itself after this long. @default 60000 */
  lifetimeMs?: number
}

/** One request the gateway answered. */
export interface GatewayRequest {
  /** 0-based request number. */
  index: number
  method: string
  /** Path and query as received. */
  url: string
  /** `car`, `raw`, or `plain` (deserialized bytes). */
  format: 'car' | 'raw' | 'plain'
  status: number
  /** Body bytes written so far (final once the response closed). */
  bytesSent: number
  /** The CIDs of the blocks sent (CAR and raw). */
  blocks: string[]
  fault: GatewayFault | undefined
  /** For a CAR: whether it repeats duplicate blocks (`dups=y`, the default unless the client asked `car-dups=n`). */
  dups?: boolean
}

/** A running test gateway. */
export interface TestGateway {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  readonly store: UnixfsStore
  /** Every request, in order of arrival. */
  readonly requests: GatewayRequest[]
  /** Body bytes sent over all requests. */
  bytesSent(): number
  /** Replaces the scripted faults; request counting continues. */
  setFaults(faults: Array<GatewayFault | undefined>, fault?: GatewayFault): void
  close(): Promise<void>
}

const CAR_TYPE = 'application/vnd.ipld.car'
const RAW_TYPE = 'application/vnd.ipld.raw'

class NotFound extends Error {}
class BadRequest extends Error {}

interface Served {
  cid: CID
  bytes: Uint8Array
}

function parseFormat(req: IncomingMessage, query: URLSearchParams): 'car' | 'raw' | 'plain' {
  const format = query.get('format')
  if (format === 'car' || format === 'raw') return format
  const accept = req.headers.accept ?? ''
  if (accept.includes(CAR_TYPE)) return 'car'
  if (accept.includes(RAW_TYPE)) return 'raw'
  return 'plain'
}

/** Start and end (inclusive) of `entity-bytes`, clamped to the file; null when empty. */
function parseEntityBytes(value: string, size: number): [number, number] | null {
  const m = /^(-?\d+):(-?\d+|\*)$/.exec(value)
  if (m === null) throw new BadRequest(`bad entity-bytes ${value}`)
  let from = Number(m[1])
  let to = m[2] === '*' ? size - 1 : Number(m[2])
  if (from < 0) from = Math.max(0, size + from)
  if (to < 0) to = size + to
  to = Math.min(to, size - 1)
  return from > to ? null : [from, to]
}

class DagReader {
  constructor(private readonly store: UnixfsStore) {}

  block(cid: CID): Uint8Array {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const bytes = this.store.getBlock(cid)
    if (bytes === undefined) throw new NotFound(`block ${cid.toString()} not found`)
    return bytes
  }

  /** Blocks from `root` through each path segment; returns them and the terminal CID. */
  resolve(root: CID, segments: string[]): { proof: Served[]; terminal: CID } {
    const proof: Served[] = []
    let cid = root
    for (const name of segments) {
      const bytes = this.block(cid)
      if (cid.code !== dagPb.code) throw new NotFound(`${name}: not a directory`)
      const node = dagPb.decode(bytes)
      const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
      proof.push({ cid, bytes })
      if (fs?.type === 'directory') {
        const link = node.Links.find((l) => l.Name === name)
        if (link === undefined) throw new NotFound(`${name} not found`)
        cid = link.Hash
      } else if (fs?.type === 'hamt-sharded-directory') {
        const chain = this.findInShard(node, name, 0)
        if (chain === undefined) throw new NotFound(`${name} not found`)
        proof.push(...chain.blocks)
        cid = chain.target
      } else {
        throw new NotFound(`${name}: not a directory`)
      }
    }
    return { proof, terminal: cid }
  }

  /** Searches a HAMT shard by name (no hashing needed on the serving side), keeping the chain of shard blocks. */
  private findInShard(node: dagPb.PBNode, name: string, depth: number): { blocks: Served[]; target: CID } | undefined {
    if (depth > 64) return undefined
    const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    const pad = ((Number(fs?.fanout ?? 256n)) - 1).toString(16).length
    for (const link of node.Links) {
      const linkName = link.Name ?? ''
      if (linkName.length === pad) {
        const bytes = this.block(link.Hash)
        const found = this.findInShard(dagPb.decode(bytes), name, depth + 1)
        if (found !== undefined) return { blocks: [{ cid: link.Hash, bytes }, ...found.blocks], target: found.target }
      } else if (linkName.slice(pad) === name) {
        return { blocks: [], target: link.Hash }
      }
    }
    return undefined
  }

  /** Every block of the DAG under `cid`, depth first, duplicates included. */
  *all(cid: CID, depth = 0): Generator<Served> {
    if (depth > 256) return
    if (cid.multihash.code === identity.code) return
    const bytes = this.block(cid)
    yield { cid, bytes }
    if (cid.code === dagPb.code) for (const link of dagPb.decode(bytes).Links) yield* this.all(link.Hash, depth + 1)
  }

  /** The blocks of the entity at `cid`; for a file, only those covering `range` (inclusive). */
  *entity(cid: CID, range: string | null): Generator<Served> {
    if (cid.multihash.code === identity.code) return
    const bytes = this.block(cid)
    if (cid.code !== dagPb.code) {
      yield { cid, bytes }
      return
    }
    const node = dagPb.decode(bytes)
    const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    if (fs?.type === 'hamt-sharded-directory') {
      yield* this.shardNodes(cid, bytes, 0)
      return
    }
    if (fs === undefined || (fs.type !== 'file' && fs.type !== 'raw')) {
      yield { cid, bytes }
      return
    }
    const size = Number(fs.fileSize())
    const span = range === null ? (size === 0 ? null : ([0, size - 1] as [number, number])) : parseEntityBytes(range, size)
    if (span === null) {
      yield { cid, bytes }
      return
    }
    yield* this.fileRange(cid, bytes, 0, span, 0)
  }

  private *shardNodes(cid: CID, bytes: Uint8Array, depth: number): Generator<Served> {
    yield { cid, bytes }
    if (depth > 64) return
    const node = dagPb.decode(bytes)
    const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    const pad = ((Number(fs?.fanout ?? 256n)) - 1).toString(16).length
    for (const link of node.Links) {
      if ((link.Name ?? '').length === pad) yield* this.shardNodes(link.Hash, this.block(link.Hash), depth + 1)
    }
  }

  /** DFS over a file's nodes whose byte span [start, start+size) meets `span`. */
  private *fileRange(cid: CID, bytes: Uint8Array, start: number, span: [number, number], depth: number): Generator<Served> {
    yield { cid, bytes }
    if (cid.code !== dagPb.code || depth > 64) return
    const node = dagPb.decode(bytes)
    const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    if (fs === undefined) return
    let pos = start + (fs.data?.length ?? 0)
    for (let i = 0; i < node.Links.length; i++) {
      const link = node.Links[i]
      const size = Number(fs.blockSizes[i] ?? 0n)
      if (link !== undefined && pos <= span[1] && pos + size > span[0] && link.Hash.multihash.code !== identity.code) {
        yield* this.fileRange(link.Hash, this.block(link.Hash), pos, span, depth + 1)
      }
      pos += size
    }
  }

  /** The file's bytes, in order. */
  *fileBytes(cid: CID, depth = 0): Generator<Uint8Array> {
    const bytes = this.block(cid)
    if (cid.code === raw.code) {
      yield bytes
      return
    }
    const node = dagPb.decode(bytes)
    const fs = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
    if (fs === undefined || (fs.type !== 'file' && fs.type !== 'raw')) throw new BadRequest('not a file')
    if (fs.data !== undefined) yield fs.data
    if (depth < 64) for (const link of node.Links) yield* this.fileBytes(link.Hash, depth + 1)
  }
}

function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** A CARv1 header `{ roots: [root], version: 1 }` in canonical DAG-CBOR, length-prefixed. */
function carHeader(root: CID): Uint8Array {
  const link = Uint8Array.of(0, ...root.bytes)
  const bytesHead = link.length < 24 ? [0x40 + link.length] : [0x58, link.length]
  const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0))
  const body = Uint8Array.from([0xa2, 0x65, ...ascii('roots'), 0x81, 0xd8, 0x2a, ...bytesHead, ...link, 0x67, ...ascii('version'), 0x01])
  return Uint8Array.from([...varint(body.length), ...body])
}

function dupsWanted(log: GatewayRequest): boolean {
  return log.dups !== false
}

function* firstOfEach(blocks: Iterable<Served>): Generator<Served> {
  const seen = new Set<string>()
  for (const block of blocks) {
    const key = block.cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    yield block
  }
}

function* junkBlocks(count: number): Generator<Served> {
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(64 * 1024).fill(i & 0xff)
    bytes[0] = i >> 8
    yield { cid: CID.createV1(raw.code, sha256Digest(bytes)), bytes }
  }
}

function sha256Digest(bytes: Uint8Array): ReturnType<typeof Digest.create> {
  return Digest.create(sha256.code, createHash('sha256').update(bytes).digest())
}

function corrupt(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes)
  const at = Math.floor(copy.length / 2)
  if (copy.length > 0) copy[at] = (copy[at] ?? 0) ^ 0xff
  else return Uint8Array.of(0xff)
  return copy
}

function shouldCorrupt(fault: GatewayFault | undefined, index: number): boolean {
  const which = fault?.corruptBlocks
  return which === 'all' || (which !== undefined && which.includes(index))
}

/**
 * Starts a trustless IPFS gateway on 127.0.0.1:0 over an in-memory blockstore, with faults
 * scripted per request. It serves `GET /ipfs/{cid}[/path]` as a CAR (`dag-scope`, `entity-bytes`,
 * blocks depth first, duplicates included), as one raw block, or as the deserialized file.
 */
export async function startGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const store = options.store ?? new UnixfsStore()
  const dag = new DagReader(store)
  const requests: GatewayRequest[] = []
  let faults = options.faults ?? []
  let everyFault = options.fault
  const sockets = new Set<Socket>()
  const closing = new AbortController()

  async function send(res: ServerResponse, log: GatewayRequest, chunks: Iterable<Uint8Array>, limit?: number): Promise<void> {
    const fault = log.fault
    const rate = fault?.rateBytesPerSecond
    for (const whole of chunks) {
      let chunk = whole
      while (chunk.length > 0) {
        if (closing.signal.aborted || res.destroyed) return
        let piece = chunk
        if (rate !== undefined) piece = piece.subarray(0, Math.max(1, Math.floor(rate / 20)))
        if (limit !== undefined) piece = piece.subarray(0, Math.max(0, limit - log.bytesSent))
        if (fault?.dropAfter !== undefined) piece = piece.subarray(0, Math.max(0, fault.dropAfter - log.bytesSent))
        if (piece.length === 0) {
          if (fault?.dropAfter !== undefined && log.bytesSent >= fault.dropAfter) res.socket?.destroy()
          return
        }
        log.bytesSent += piece.length
        const flushed = res.write(piece)
        chunk = chunk.subarray(piece.length)
        if (!flushed) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              res.off('drain', done)
              res.off('close', done)
              resolve()
            }
            res.on('drain', done)
            res.on('close', done)
          })
        }
        if (rate !== undefined) await delay(Math.ceil((piece.length / rate) * 1000), undefined, { signal: closing.signal }).catch(() => undefined)
      }
    }
    if (fault?.dropAfter !== undefined && log.bytesSent >= fault.dropAfter) res.socket?.destroy()
  }

  function* carChunks(root: CID, served: Iterable<Served>, log: GatewayRequest): Generator<Uint8Array> {
    yield carHeader(log.fault?.wrongRoot === true ? [...junkBlocks(1)][0]!.cid : root)
    let blocks = served
    if (log.fault?.reverseBlocks === true) blocks = [...served].reverse()
    const extra = log.fault?.extraBlocks ?? 0
    if (extra > 0) blocks = [...junkBlocks(extra), ...blocks]
    if (log.fault?.noDups === true || !dupsWanted(log)) blocks = firstOfEach(blocks)
    const lacking = new Set((log.fault?.lacks ?? []).map((c) => CID.parse(c).toV1().toString()))
    let index = 0
    for (const block of blocks) {
      if (log.fault?.omitBlocks?.includes(index) === true || lacking.has(block.cid.toV1().toString())) {
        index++
        continue
      }
      const data = shouldCorrupt(log.fault, index) ? corrupt(block.bytes) : block.bytes
      log.blocks.push(block.cid.toString())
      yield varint(block.cid.bytes.length + data.length)
      yield block.cid.bytes
      yield data
      index++
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, log: GatewayRequest): Promise<void> {
    const fault = log.fault
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    log.format = parseFormat(req, url.searchParams)
    if (fault?.status !== undefined) {
      log.status = fault.status
      res.writeHead(fault.status, fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter })
      res.end()
      return
    }
    if (fault?.html200 === true) {
      const page = new TextEncoder().encode('<!doctype html><html><body><h1>Welcome to our gateway</h1></body></html>')
      log.status = 200
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      await send(res, log, [page])
      res.end()
      return
    }
    const parts = url.pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p))
    if (parts[0] !== 'ipfs' || parts[1] === undefined) throw new NotFound('only /ipfs/{cid} is served')
    let root: CID
    try {
      root = CID.parse(parts[1])
    } catch {
      throw new BadRequest(`invalid CID ${parts[1]}`)
    }
    if (log.format === 'car' && fault?.noCar !== undefined && fault.noCar !== false) {
      log.status = fault.noCar === true ? 406 : fault.noCar
      res.writeHead(log.status, { 'content-type': 'text/plain' })
      res.end('CAR responses are not supported here')
      return
    }
    if (log.format === 'raw') {
      if (parts.length > 2) throw new BadRequest('raw blocks are served by CID only')
      if (fault?.lacks?.some((c) => CID.parse(c).toV1().equals(root.toV1())) === true) throw new NotFound(`block ${root.toString()} not found`)
      const bytes = dag.block(root)
      log.blocks.push(root.toString())
      log.status = 200
      res.writeHead(200, { 'content-type': RAW_TYPE, 'content-length': String(bytes.length) })
      await send(res, log, [shouldCorrupt(fault, 0) ? corrupt(bytes) : bytes])
      res.end()
      return
    }
    const { proof, terminal } = dag.resolve(root, parts.slice(2))
    if (log.format === 'car') {
      const scope = url.searchParams.get('dag-scope') ?? 'all'
      const range = url.searchParams.get('entity-bytes')
      dag.block(terminal)
      const body = function* (): Generator<Served> {
        yield* proof
        if (range !== null || scope === 'entity') yield* dag.entity(terminal, range)
        else if (scope === 'block') yield { cid: terminal, bytes: dag.block(terminal) }
        else yield* dag.all(terminal)
      }
      log.status = 200
      log.dups = fault?.noDups !== true && !/(^|[;&\s])dups=n/.test(`${url.searchParams.get('car-dups') === 'n' ? 'dups=n' : ''} ${req.headers.accept ?? ''}`)
      res.writeHead(200, { 'content-type': `${CAR_TYPE}; version=1; order=dfs; dups=${log.dups ? 'y' : 'n'}`, 'cache-control': 'public, max-age=29030400, immutable' })
      await send(res, log, carChunks(terminal, body(), log), fault?.truncateCar)
      res.end()
      return
    }
    const chunks = [...dag.fileBytes(terminal)]
    log.status = 200
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(chunks.reduce((n, c) => n + c.length, 0)) })
    await send(res, log, chunks)
    res.end()
  }

  const server = createServer((req, res) => {
    const index = requests.length
    const fault = index < faults.length ? faults[index] : everyFault
    const log: GatewayRequest = { index, method: req.method ?? 'GET', url: req.url ?? '/', format: 'plain', status: 0, bytesSent: 0, blocks: [], fault }
    requests.push(log)
    handle(req, res, log).catch((err: unknown) => {
      const status = err instanceof NotFound ? 404 : err instanceof BadRequest ? 400 : 500
      log.status = status
      if (res.headersSent) {
        res.destroy()
        return
      }
      res.writeHead(status, { 'content-type': 'text/plain' })
      res.end(err instanceof Error ? err.message : String(err))
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  let closed: Promise<void> | undefined
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime)
      closing.abort()
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
    return closed
  }
  const lifetime = setTimeout(() => void close(), options.lifetimeMs ?? 60_000)
  lifetime.unref()

  return {
    url: `http://127.0.0.1:${port}`,
    store,
    requests,
    bytesSent: () => requests.reduce((n, r) => n + r.bytesSent, 0),
    setFaults(next, fault) {
      faults = [...requests.map(() => undefined), ...next]
      everyFault = fault
    },
    close,
  }
}

/**
 * Every block of `store` as one CARv1 whose header names `root`, for loading the same content into
 * another gateway's blockstore (e.g. the helia peer). The store keys blocks by multihash, so the
 * sections name them as raw CIDs: right for a blockstore (keyed by multihash too), not a DAG to read.
 */
export async function storeCar(store: UnixfsStore, root: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = [carHeader(root)]
  for await (const { cid, bytes } of store.blockstore.getAll()) {
    const chunks: Uint8Array[] = []
    for await (const chunk of bytes) chunks.push(chunk)
    const data = Buffer.concat(chunks)
    parts.push(varint(cid.bytes.length + data.length), cid.bytes, data)
  }
  return Buffer.concat(parts)
}

/** Gateways started by one test file, closed together (call `closeAll` in afterEach). */
export interface GatewayTracker {
  start(options?: GatewayOptions): Promise<TestGateway>
  closeAll(): Promise<void>
}

/** Starts gateways with `defaults` (e.g. a short lifetime) and remembers them for `closeAll`. */
export function trackGateways(defaults: GatewayOptions = {}): GatewayTracker {
  const open: TestGateway[] = []
  return {
    async start(options = {}) {
      const g = await startGateway({ ...defaults, ...options })
      open.push(g)
      return g
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((g) => g.close()))
    },
  }
}
