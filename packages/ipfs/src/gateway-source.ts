import { HaulError, type ReadRequest, type ReadResponse, type RemoteInfo, type Source } from '@haul/core'
import { createTransport, type Transport, type TransportOptions } from '@haul/http'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { CarBlocks, RawBlocks, type BlockGetter } from './blocks.js'
import { CarHeaderError, CarReader } from './car-reader.js'
import { CAR_ACCEPT, gatewayGet } from './http.js'
import { parseIpfsInput, type IpfsInput } from './input.js'
import { DEFAULT_MAX_DIRECTORY_ENTRIES } from './defaults.js'
import { fileSize, listDirectory, readFile, resolvePath, type DirectoryLink, type UnixfsNode } from './unixfs.js'

/** A CAR response that says it repeats duplicate blocks (`dups=y` in its Content-Type). */
const DUPS_INCLUDED = /;\s*dups=y\s*(;|$)/i

/** Statuses with which a gateway says it does not do CAR (or not this CAR request). */
const CAR_REFUSED = [400, 406, 415] as const

/**
 * The content is a directory, not a file. A HAUL_USAGE error for callers of a single-file read;
 * `download()` catches it and fetches the tree instead.
 */
export class DirectoryNodeError extends HaulError {
  constructor(
    id: string,
    /** The directory's verified CID. */
    readonly directory: CID,
  ) {
    super('HAUL_USAGE', `${id} is a directory; name a file inside it (ipfs://CID/path/to/file) or download the whole tree into a folder.`, { source: id })
  }
}

/** Normalises a gateway URL to its origin plus any base path, without a trailing slash. */
function gatewayBase(gateway: string): string {
  let url: URL
  try {
    url = new URL(gateway)
  } catch (err) {
    throw new HaulError('HAUL_USAGE', `Not a gateway URL: ${JSON.stringify(gateway)}; give http(s)://host[:port].`, { cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HaulError('HAUL_USAGE', `Gateway ${gateway} must be http(s).`)
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/** Options for one {@link GatewaySource}: the transport's (proxy, TLS, timeouts…), or a transport. */
export interface GatewaySourceOptions extends TransportOptions {
  /**
   * The transport to send through, shared with other sources; the caller keeps ownership:
   * close() leaves it open, and the transport options above are then the transport's own.
   * @default a transport of the source's own, built from the options above
   */
  transport?: Transport
}

interface Opened {
  blocks: BlockGetter
  node: UnixfsNode
  /** Releases the connection(s); safe to call twice. */
  close(): Promise<void>
}

/**
 * One trustless gateway serving one CID (and path). Each `read()` is one attempt: a CAR request
 * for the byte range (`dag-scope=entity&entity-bytes=from:to`), or block-by-block raw requests
 * once the gateway has shown it cannot do CAR. Only bytes of blocks that hashed to their CIDs are
 * yielded. Retries, rotation and cool-down belong to core's transaction.
 */
export class GatewaySource implements Source {
  readonly id: string
  readonly label: string
  private readonly base: string
  private readonly input: IpfsInput
  private readonly transport: Transport
  private readonly ownsTransport: boolean
  private carWorks = true

  /**
   * @param gateway the gateway's base URL, e.g. `https://trustless-gateway.link`
   * @param input the content: `ipfs://CID[/path]`, `/ipfs/CID[/path]`, a bare CID, or a parsed input
   */
  constructor(gateway: string, input: string | IpfsInput, options: GatewaySourceOptions = {}) {
    this.input = typeof input === 'string' ? parseIpfsInput(input) : input
    this.base = gatewayBase(gateway)
    this.id = this.input.id
    this.label = this.base
    this.ownsTransport = options.transport === undefined
    this.transport = options.transport ?? createTransport(options)
  }

  /** Closes the source's own transport (a shared one stays open). */
  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close()
  }

  private contentPath(): string {
    return `/ipfs/${this.input.cid.toString()}${this.input.path.map((p) => `/${encodeURIComponent(p)}`).join('')}`
  }

  private async openCar(offset: number, end: number | undefined, signal: AbortSignal, reuseChunks: boolean): Promise<Opened | undefined> {
    const range = `${offset}:${end === undefined ? '*' : String(end - 1)}`
    const url = `${this.base}${this.contentPath()}?format=car&car-version=1&car-order=dfs&car-dups=y&dag-scope=entity&entity-bytes=${range}`
    const { status, header, chunks } = await gatewayGet(this.transport, url, CAR_ACCEPT, this.label, signal, CAR_REFUSED)
    if ((CAR_REFUSED as readonly number[]).includes(status)) return undefined
    const close = async (): Promise<void> => {
      await chunks.return?.()
    }
    try {
      const reader = new CarReader(chunks, this.label)
      try {
        await reader.header()
      } catch (err) {
        if (err instanceof CarHeaderError) {
          await close()
          return undefined
        }
        throw err
      }
      const blocks = new CarBlocks(reader, this.label, reuseChunks && DUPS_INCLUDED.test(header('content-type') ?? ''))
      const node = await resolvePath(blocks, this.input.cid, this.input.path, this.label)
      return { blocks, node, close }
    } catch (err) {
      await close()
      throw err
    }
  }

  private async openRaw(signal: AbortSignal): Promise<Opened> {
    const own = new AbortController()
    const onAbort = (): void => own.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    const close = async (): Promise<void> => {
      signal.removeEventListener('abort', onAbort)
      own.abort()
    }
    try {
      const blocks = new RawBlocks(this.transport, this.base, this.label, own.signal)
      const node = await resolvePath(blocks, this.input.cid, this.input.path, this.label)
      return { blocks, node, close }
    } catch (err) {
      await close()
      throw err
    }
  }

  /**
   * Lists the directory this source points at (one attempt, like `read`): its entries' names and
   * CIDs, every directory and shard block verified from the root CID.
   */
  async list(signal: AbortSignal, maxEntries: number = DEFAULT_MAX_DIRECTORY_ENTRIES): Promise<DirectoryLink[]> {
    const opened = await this.open(0, undefined, signal, false)
    try {
      return await listDirectory(opened.blocks, opened.node, this.label, maxEntries)
    } finally {
      await opened.close()
    }
  }

  private async open(offset: number, end: number | undefined, signal: AbortSignal, reuseChunks: boolean): Promise<Opened> {
    // An identity root carries its own bytes: block-by-block mode requests only what is not inline.
    if (this.carWorks && this.input.cid.multihash.code !== identity.code) {
      const opened = await this.openCar(offset, end, signal, reuseChunks)
      if (opened !== undefined) return opened
      // The gateway refused CAR or sent something that is not one: use raw blocks from now on.
      // A refusal of a range that starts past the end (400 by the spec) says nothing about CAR.
      if (offset === 0) this.carWorks = false
    }
    return this.openRaw(signal)
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    const { offset, end, signal } = request
    const { blocks, node, close } = await this.open(offset, end, signal, request.reuseChunks === true)
    const size = fileSize(node)
    if (size === undefined) {
      await close()
      if (node.kind === 'directory' || node.kind === 'hamt') throw new DirectoryNodeError(this.id, node.cid)
      throw new HaulError('HAUL_USAGE', `${this.id} is a UnixFS ${node.kind === 'other' ? node.type : node.kind}, not a file.`, { source: this.id })
    }
    const info: RemoteInfo = { size, validator: node.cid.toString(), ranges: true, fileName: this.input.path.at(-1) ?? this.input.cid.toString() }
    const label = this.label
    const stop = end === undefined ? size : Math.min(end, size)
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        yield* readFile(blocks, node, offset, stop, label)
      } finally {
        await close()
      }
    }
    return { info, offset, body: body() }
  }
}
