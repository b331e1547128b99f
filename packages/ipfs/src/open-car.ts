import type { GatewayGroup } from './block-fetcher.js'
import { CarBlocks, RawBlocks, type Upcoming } from './blocks.js'
import { CarHeaderError, CarReader } from './car-reader.js'
import { gatewayGet } from './http.js'
import { linkedController } from './linked-signal.js'

/** Statuses with which a gateway says it does not do CAR (or not this CAR request). */
export const CAR_REFUSED = [400, 406, 415] as const

/** A CAR response that says it repeats duplicate blocks (`dups=y` in its Content-Type). */
const DUPS_INCLUDED = /;\s*dups=y\s*(;|$)/i

/** Blocks from one CAR response, and how to let go of it (the connection and the fetches behind it). */
export interface OpenedCar {
  blocks: CarBlocks
  close(): Promise<void>
}

/** Options for {@link openCar}. */
export interface OpenCarOptions {
  /** The walk's hints, shared with the raw fetches of blocks the CAR lacks. */
  upcoming: Upcoming
  /** Reuse block memory when the CAR repeats duplicates (see {@link CarBlocks}). @default false */
  reuseChunks?: boolean
  signal: AbortSignal
}

/**
 * GETs a CAR from `gateway` through the group's transport and reads its header. Undefined when
 * the gateway does not do CAR for this request (a refusing status, or a body that is not a
 * CARv1): the caller may use raw blocks.
 * Blocks the CAR lacks are fetched from the group under a signal of their own, ended by `close`.
 */
export async function openCar(url: string, accept: string, gateway: string, group: GatewayGroup, options: OpenCarOptions): Promise<OpenedCar | undefined> {
  // The reader copies every section out of the chunks, so the connection's read buffers are reused.
  const { status, header, chunks } = await gatewayGet(group.transport, url, accept, gateway, options.signal, { passStatuses: CAR_REFUSED, reuseChunks: true })
  if ((CAR_REFUSED as readonly number[]).includes(status)) return undefined
  const own = linkedController(options.signal)
  const close = async (): Promise<void> => {
    own.close()
    await chunks.return?.()
  }
  const reader = new CarReader(chunks, gateway, { transientChunks: true })
  try {
    await reader.header()
  } catch (err) {
    await close()
    if (err instanceof CarHeaderError) return undefined
    throw err
  }
  const fallback = new RawBlocks(gateway, group, own.signal, options.upcoming, false)
  const reuse = options.reuseChunks === true && DUPS_INCLUDED.test(header('content-type') ?? '')
  return { blocks: new CarBlocks(reader, gateway, fallback, options.upcoming, { reuse, signal: options.signal }), close }
}
