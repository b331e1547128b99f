import { HaulError, type ReadRequest, type ReadResponse, type RemoteInfo, type Source } from '@haul/core'
import type { Transport, TransportOptions } from '@haul/http'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { GatewayGroup } from './block-fetcher.js'
import { RawBlocks, Upcoming, type BlockGetter } from './blocks.js'
import { integrityError } from './errors.js'
import { CAR_ACCEPT } from './http.js'
import { linkedController } from './linked-signal.js'
import { openCar } from './open-car.js'
import { parseIpfsInput, type IpfsInput } from './input.js'
import { fileSize, readFile, resolvePath, type UnixfsNode } from './unixfs.js'


/** What a gateway answers when it could not retrieve the content in time (its own lookup failed). */
const GATEWAY_TIMEOUT = 504

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
export function gatewayBase(gateway: string): string {
  let url: URL
  try {
    url = new URL(gateway)
  } catch (err) {
    throw new HaulError('HAUL_USAGE', `Not a gateway URL: ${JSON.stringify(gateway)}; give http(s)://host[:port].`, { cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HaulError('HAUL_USAGE', `Gateway ${gateway} must be http(s).`)
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/** Options for one {@link GatewaySource}: the transport's (proxy, TLS, timeouts…), a transport, or a group. */
export interface GatewaySourceOptions extends TransportOptions {
  /**
   * The transport to send through, shared with other sources; the caller keeps ownership:
   * close() leaves it open, and the transport options above are then the transport's own.
   * Ignored when a `group` is given (the group's transport is used).
   * @default a transport of the source's own, built from the options above
   */
  transport?: Transport
  /**
   * The download's gateways (this one among them), for blocks this one lacks and for the gateways
   * that lied; every request goes through its transport. The caller keeps ownership.
   * @default a group of this gateway alone, owned by the source
   */
  group?: GatewayGroup
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
  private readonly group: GatewayGroup
  private readonly ownsGroup: boolean
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
    const { group, ...own } = options
    this.ownsGroup = group === undefined
    this.group = group ?? new GatewayGroup([this.base], own)
  }

  /** Closes the source's own group and transport (a shared one stays open). */
  async close(): Promise<void> {
    if (this.ownsGroup) await this.group.close()
  }

  /** A lie (a block that did not hash to its CID) drops this gateway for the rest of the download. */
  private noteLie(err: unknown): void {
    if (err instanceof HaulError && err.code === 'HAUL_INTEGRITY' && err.source === this.label) this.group.markLiar(this.base)
  }

  private contentPath(): string {
    return `/ipfs/${this.input.cid.toString()}${this.input.path.map((p) => `/${encodeURIComponent(p)}`).join('')}`
  }

  private async openCar(offset: number, end: number | undefined, signal: AbortSignal, reuseChunks: boolean): Promise<Opened | undefined> {
    const range = `${offset}:${end === undefined ? '*' : String(end - 1)}`
    const url = `${this.base}${this.contentPath()}?format=car&car-version=1&car-order=dfs&car-dups=y&dag-scope=entity&entity-bytes=${range}`
    const car = await openCar(url, CAR_ACCEPT, this.base, this.group, { upcoming: new Upcoming(), reuseChunks, signal })
    if (car === undefined) return undefined
    try {
      const node = await resolvePath(car.blocks, this.input.cid, this.input.path, this.label)
      return { blocks: car.blocks, node, close: car.close }
    } catch (err) {
      await car.close()
      throw err
    }
  }

  private async openRaw(signal: AbortSignal): Promise<Opened> {
    const own = linkedController(signal)
    const close = async (): Promise<void> => {
      own.close()
    }
    try {
      const blocks = new RawBlocks(this.base, this.group, own.signal)
      const node = await resolvePath(blocks, this.input.cid, this.input.path, this.label)
      return { blocks, node, close }
    } catch (err) {
      await close()
      throw err
    }
  }

  private async open(offset: number, end: number | undefined, signal: AbortSignal, reuseChunks: boolean): Promise<Opened> {
    // An identity root carries its own bytes: block-by-block mode requests only what is not inline.
    if (this.carWorks && this.input.cid.multihash.code !== identity.code) {
      let opened: Opened | undefined
      try {
        opened = await this.openCar(offset, end, signal, reuseChunks)
      } catch (err) {
        if (!this.unsureRefusal(err)) throw err
        // Block by block, haul finds out itself which block is missing or which name is not there.
        return this.openRaw(signal)
      }
      if (opened !== undefined) return opened
      // The gateway refused CAR or sent something that is not one: use raw blocks from now on.
      // A refusal of a range that starts past the end (400 by the spec) says nothing about CAR.
      if (offset === 0) this.carWorks = false
    }
    return this.openRaw(signal)
  }

  /**
   * A refusal of a CAR that does not say what is wrong: 504 (the gateway could not retrieve some
   * block in time) or, with a path, 404 (a block, or a name, is not there). Raw blocks tell which,
   * and whether another gateway has what this one lacks.
   */
  private unsureRefusal(err: unknown): boolean {
    if (!(err instanceof HaulError) || err.code !== 'HAUL_SOURCE') return false
    return err.status === GATEWAY_TIMEOUT || (err.status === 404 && this.input.path.length > 0)
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    try {
      return await this.attempt(request)
    } catch (err) {
      this.noteLie(err)
      throw err
    }
  }

  private async attempt(request: ReadRequest): Promise<ReadResponse> {
    const { offset, end, signal } = request
    if (this.group.isLiar(this.base)) throw integrityError(`Gateway ${this.label} sent a block that did not match its CID earlier in this download; it is not asked again.`, this.label)
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
    const noteLie = (err: unknown): void => this.noteLie(err)
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        yield* readFile(blocks, node, offset, stop, label)
      } catch (err) {
        noteLie(err)
        throw err
      } finally {
        await close()
      }
    }
    return { info, offset, body: body() }
  }
}

