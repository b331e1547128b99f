import { isHaulError } from '@haul/core'
import { backoffDelay, sleep, type BackoffOptions } from '@haul/core/driver'
import type { CID } from 'multiformats/cid'
import type { GatewayGroup } from './block-fetcher.js'
import { CarBlocks, RawBlocks, Upcoming, type BlockGetter } from './blocks.js'
import { linkedController } from './linked-signal.js'
import { openCar } from './open-car.js'

/** A whole tree in one CAR: depth first, each block once (the walk copies a file it already has). */
const TREE_CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'

/** Options for {@link TreeBlocks.open}. */
export interface TreeBlocksOptions {
  /** Switches to another gateway allowed after failures (a broken stream, a lie). */
  retries: number
  backoff?: BackoffOptions
  signal: AbortSignal
}

/** Where the blocks come from now (the tree's CAR, or raw blocks), and how to let go of it. */
interface Current {
  blocks: CarBlocks | RawBlocks
  close(): Promise<void>
}

/**
 * The blocks of a whole directory tree for a walk that visits it depth first: one `dag-scope=all`
 * CAR of the root from the first gateway that sends one, what it lacks fetched as raw blocks (from
 * it or another gateway), and when the stream breaks or lies, the rest block by block, a few ahead
 * of the walk, from the next gateway. So a folder of a thousand small files costs one request,
 * not one per file.
 */
export class TreeBlocks implements BlockGetter {
  private failures = 0

  private constructor(
    private readonly group: GatewayGroup,
    private readonly options: TreeBlocksOptions,
    private readonly upcoming: Upcoming,
    private gateway: string,
    private current: Current,
  ) {}

  /** Opens the tree's CAR at the first usable gateway that sends one; raw blocks if none does. */
  static async open(root: CID, group: GatewayGroup, options: TreeBlocksOptions): Promise<TreeBlocks> {
    const upcoming = new Upcoming()
    for (const gateway of group.gateways.filter((g) => !group.isLiar(g))) {
      try {
        const url = `${gateway}/ipfs/${root.toString()}?format=car&car-version=1&car-order=dfs&car-dups=n&dag-scope=all`
        const car = await openCar(url, TREE_CAR_ACCEPT, gateway, group, { upcoming, signal: options.signal })
        if (car !== undefined) return new TreeBlocks(group, options, upcoming, gateway, car)
      } catch (err) {
        if (options.signal.aborted || !isHaulError(err)) throw err
        if (err.code === 'HAUL_INTEGRITY') group.markLiar(gateway)
        // Any other refusal: its blocks may still come one by one; try the next gateway's CAR.
      }
    }
    const first = group.gateways.find((g) => !group.isLiar(g)) ?? group.gateways[0] ?? ''
    return new TreeBlocks(group, options, upcoming, first, rawBlocks(first, group, upcoming, options.signal))
  }

  /** The gateway the blocks come from now. */
  get label(): string {
    return this.gateway
  }

  hint(cids: CID[]): void {
    this.current.blocks.hint(cids)
  }

  /** The walk will not read these blocks nor what they link to (see {@link CarBlocks.skip}). */
  skip(cids: readonly CID[]): void {
    if (this.current.blocks instanceof CarBlocks) this.current.blocks.skip(cids)
  }

  async get(cid: CID): Promise<Uint8Array> {
    for (;;) {
      try {
        return await this.current.blocks.get(cid)
      } catch (err) {
        if (this.options.signal.aborted || !isHaulError(err)) throw err
        const lied = err.code === 'HAUL_INTEGRITY' && err.source === this.gateway
        if (lied) this.group.markLiar(this.gateway)
        else if (err.code !== 'HAUL_SOURCE' || err.transient !== true) throw err
        const next = this.nextGateway()
        if (next === undefined || ++this.failures > this.options.retries) throw err
        await this.current.close()
        if (!lied) await sleep(backoffDelay(this.failures, this.options.backoff), this.options.signal)
        this.gateway = next
        this.current = rawBlocks(next, this.group, this.upcoming, this.options.signal)
      }
    }
  }

  /** The gateway after the current one (in the group's order, wrapping round) that has not lied. */
  private nextGateway(): string | undefined {
    const all = this.group.gateways
    const at = all.indexOf(this.gateway)
    for (let i = 1; i <= all.length; i++) {
      const candidate = all[(at + i) % all.length]
      if (candidate !== undefined && !this.group.isLiar(candidate)) return candidate
    }
    return undefined
  }

  async close(): Promise<void> {
    await this.current.close()
  }
}

/** Raw blocks from one gateway (others when it lacks one), fetched a few ahead of the walk's hints. */
function rawBlocks(gateway: string, group: GatewayGroup, upcoming: Upcoming, signal: AbortSignal): Current {
  const own = linkedController(signal)
  const blocks = new RawBlocks(gateway, group, own.signal, upcoming)
  blocks.prefetch()
  return { blocks, close: async () => own.close() }
}
