import { HaulError, isHaulError } from '@haul/core'
import { createTransport, type Transport, type TransportOptions } from '@haul/http'
import type { CID } from 'multiformats/cid'
import { DEFAULT_MAX_BLOCK_BYTES } from './defaults.js'
import { integrityError } from './errors.js'
import { gatewayGet, RAW_ACCEPT } from './http.js'
import { verifyBlock } from './verify.js'

/** Statuses with which a gateway says it will not serve raw blocks: for this block, as good as not having it. */
const RAW_REFUSED = new Set([400, 406, 415, 501])
/**
 * A gateway that could not retrieve a block in time (504: helia's offline node, a recursive gateway
 * whose own network lookup failed) does not have it now: ask the next instead of waiting on it.
 */
const NOT_RETRIEVED = 504

/** How a gateway's permanent refusal of a block reads in the final message. */
function lackReason(status: number | undefined): string {
  if (status === undefined) return 'refused it'
  if (status === 404 || status === 410 || status === NOT_RETRIEVED) return `does not have it (HTTP ${status})`
  return RAW_REFUSED.has(status) ? `does not serve raw blocks (HTTP ${status})` : `refused it (HTTP ${status})`
}

/** One raw block (`?format=raw`) from one gateway through `transport`, verified against its CID. */
export async function fetchRawBlock(transport: Transport, gateway: string, cid: CID, signal: AbortSignal): Promise<Uint8Array> {
  const url = `${gateway}/ipfs/${cid.toString()}?format=raw`
  const { header, chunks } = await gatewayGet(transport, url, RAW_ACCEPT, gateway, signal)
  const declared = Number(header('content-length') ?? '0')
  const tooBig = (): Error => integrityError(`Gateway ${gateway} sent over ${DEFAULT_MAX_BLOCK_BYTES} bytes for block ${cid.toString()}.`, gateway)
  if (declared > DEFAULT_MAX_BLOCK_BYTES) {
    await chunks.return?.()
    throw tooBig()
  }
  const parts: Uint8Array[] = []
  let length = 0
  for (;;) {
    const next = await chunks.next()
    if (next.done === true) break
    length += next.value.length
    if (length > DEFAULT_MAX_BLOCK_BYTES) {
      await chunks.return?.()
      throw tooBig()
    }
    parts.push(next.value)
  }
  if (parts.length === 1 && parts[0] !== undefined) return verifyBlock(cid, parts[0], gateway)
  // Joined into memory of its own, which verification may hand to the hash thread.
  const joined = Buffer.allocUnsafeSlow(length)
  let at = 0
  for (const part of parts) {
    joined.set(part, at)
    at += part.length
  }
  return verifyBlock(cid, joined, gateway, true)
}

/** Options for a {@link GatewayGroup}: the transport's (proxy, TLS, timeouts…), or a transport. */
export interface GatewayGroupOptions extends TransportOptions {
  /**
   * The transport to send through; the caller keeps ownership: close() leaves it open, and the
   * transport options above are then the transport's own.
   * @default a transport of the group's own, built from the options above
   */
  transport?: Transport
}

/**
 * The gateways of one download, as a source of single blocks: a gateway whose CAR left a block
 * out (or that answers block by block) asks here, and gets the block from itself or, when it does
 * not have it, from the others in turn. Also remembers which gateways lied (sent a block that does
 * not hash to its CID), so that no read of this download asks them again. Every request to these
 * gateways (CARs, raw blocks) goes through the group's one {@link transport}.
 */
export class GatewayGroup {
  /** What every request to the group's gateways is sent through. */
  readonly transport: Transport
  private readonly ownsTransport: boolean
  private readonly liars = new Set<string>()

  /** @param gateways base URLs (normalised, no trailing slash), preferred first */
  constructor(
    readonly gateways: readonly string[],
    options: GatewayGroupOptions = {},
  ) {
    this.ownsTransport = options.transport === undefined
    this.transport = options.transport ?? createTransport(options)
  }

  /** Closes the group's own transport (one the caller gave stays open). */
  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close()
  }

  isLiar(gateway: string): boolean {
    return this.liars.has(gateway)
  }

  markLiar(gateway: string): void {
    this.liars.add(gateway)
  }

  /**
   * The verified bytes of `cid`, from `own` first. A gateway without the block (404/410, or no raw
   * blocks at all) passes the request on to the next; one that lies is marked and passed over.
   * Throws what `own` threw when `own` lied or failed transiently (its read should fail as such),
   * a transient error when only transient failures stood in the way, and otherwise a permanent
   * HAUL_SOURCE error saying that no gateway has the block.
   */
  async fetch(cid: CID, own: string, signal: AbortSignal): Promise<Uint8Array> {
    const order = [own, ...this.gateways.filter((g) => g !== own && !this.liars.has(g))]
    const lacking: string[] = []
    let transient: HaulError | undefined
    for (const gateway of order) {
      try {
        return await fetchRawBlock(this.transport, gateway, cid, signal)
      } catch (err) {
        if (signal.aborted || !isHaulError(err)) throw err
        if (err.code === 'HAUL_INTEGRITY') {
          this.markLiar(gateway)
          if (gateway === own) throw err
        } else if (err.code !== 'HAUL_SOURCE') {
          throw err
        } else if (err.transient !== true || err.status === NOT_RETRIEVED) {
          lacking.push(`${gateway} ${lackReason(err.status)}`)
        } else {
          if (gateway === own) throw err
          transient ??= err
        }
      }
    }
    if (transient !== undefined) throw transient
    return Promise.reject(
      new HaulError('HAUL_SOURCE', `No gateway has block ${cid.toString()}: ${lacking.join('; ')}. Try other gateways (--gateway) or later.`, { source: own, status: 404, transient: false }),
    )
  }
}
