import { createHash } from 'node:crypto'
import { Cache, HaulError, runDownload, type DownloadOptions, type DownloadResult, type EventListener, type HaulEvent } from '@haul/core'
import { splitTransportOptions, type TransportOptions } from '@haul/http'
import { startHashThread } from '@haul/core/driver'
import { GatewayGroup } from './block-fetcher.js'
import { DEFAULT_GATEWAYS } from './defaults.js'
import { downloadDirectory } from './directory.js'
import { DirectoryNodeError, GatewaySource, gatewayBase } from './gateway-source.js'
import { InlineSource, inlineContent } from './inline-source.js'
import { parseIpfsInput, type IpfsInput } from './input.js'

/**
 * Options for {@link download}: core's download options, the transport's (proxy, TLS, timeouts,
 * User-Agent, redirects, trace — the same as @haul/http's) and the gateways to use.
 */
export interface IpfsDownloadOptions extends DownloadOptions, TransportOptions {
  /**
   * Trustless gateways to fetch from, preferred first. None is trusted: every block is verified.
   * @default the `HAUL_GATEWAYS` environment variable (comma-separated) when set, else {@link DEFAULT_GATEWAYS}
   */
  gateways?: string[]
  /**
   * A cache folder (or {@link Cache}) shared by downloads: content already fetched by this CID
   * (or with the expected SHA-256) is linked to `output` with no request; otherwise it is
   * downloaded into the cache first. Directories and identity CIDs bypass the cache.
   * @default undefined (no cache)
   */
  cache?: string | Cache
}

/** The gateways to use: the caller's, else `HAUL_GATEWAYS`, else the defaults. */
export function resolveGateways(gateways: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (gateways !== undefined) return [...gateways]
  const fromEnv = (env.HAUL_GATEWAYS ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '')
  return fromEnv.length > 0 ? fromEnv : [...DEFAULT_GATEWAYS]
}

/**
 * Downloads the file at `cidOrPath` (`ipfs://CID[/path]`, `/ipfs/CID[/path]` or a bare CID) into
 * `options.output` through core's transaction: every block is verified against its CID, gateways
 * rotate and a lying one is dropped, progress survives a kill, and the file is committed
 * atomically. An identity CID is answered from the CID itself with no request.
 *
 * When the CID (or path) names a directory, the whole tree is downloaded into the folder
 * `options.output`, committed at once; the result's `sha256` is then that of the tree's manifest
 * (`<sha256>  <path>` lines, sorted, as `sha256sum` prints them).
 */
export async function download(cidOrPath: string, options: IpfsDownloadOptions): Promise<DownloadResult> {
  const input = parseIpfsInput(cidOrPath)
  const { transport: transportOptions, rest } = splitTransportOptions(options)
  const { gateways: given, cache, ...core } = rest
  const inline = await inlineContent(input)
  if (inline !== undefined) return runDownload([new InlineSource(input.id, inline, input.cid.toString(), input.path.at(-1))], core)
  const gateways = resolveGateways(given)
  if (gateways.length === 0) throw new HaulError('HAUL_USAGE', 'No IPFS gateway to fetch from; pass gateways (or --gateway) or set HAUL_GATEWAYS.')
  // Every block is hashed against its CID: the thread boots while the first request goes out.
  if (core.hashThread !== false) startHashThread()
  // One group for the whole download, and one transport for every request of it (every gateway,
  // every file of a tree), closed with the download: a block one gateway lacks may come from
  // another, and a gateway that lied is asked nothing more.
  const group = new GatewayGroup(gateways.map(gatewayBase), transportOptions)
  try {
    return await downloadThrough(group, input, gateways, cache, core)
  } finally {
    await group.close()
  }
}

async function downloadThrough(group: GatewayGroup, input: IpfsInput, gateways: string[], cache: string | Cache | undefined, core: DownloadOptions): Promise<DownloadResult> {
  // Core closes the sources when a transaction ends, so each run gets its own.
  const sources = (): GatewaySource[] => gateways.map((g) => new GatewaySource(g, input, { group }))
  // Whether the CID is a file or a directory shows only in its root block, which the first read
  // fetches anyway; so try it as a file and hold back that attempt's events until it is known.
  const held = holdEvents(core.onEvent)
  try {
    const result =
      cache === undefined
        ? await runDownload(sources(), { ...core, onEvent: held.listener })
        : await (typeof cache === 'string' ? new Cache(cache) : cache).download({ ...core, onEvent: held.listener }, (o) => runDownload(sources(), o), { id: input.id, cid: cidKey(input) })
    held.flush() // a file that was already there (or is empty) delivered no byte that would have
    return result
  } catch (err) {
    if (!(err instanceof DirectoryNodeError)) {
      held.flush()
      throw err
    }
    held.discard()
    return downloadDirectory(input, err.directory, gateways, group, core)
  }
}

/** The CID alias name: the CIDv1 (case-insensitive base32), plus a hash of the path inside it. */
function cidKey(input: ReturnType<typeof parseIpfsInput>): string {
  const cid = input.cid.toV1().toString()
  if (input.path.length === 0) return cid
  return `${cid}.${createHash('sha256').update(input.path.join('/')).digest('hex').slice(0, 32)}`
}

/**
 * Holds back the events of the first attempt until it has delivered a byte (a directory fails
 * before that), so a listener never sees the file attempt's `start`/`error` for a directory.
 * `wait` passes at once: a lock wait is worth telling whatever comes next.
 */
function holdEvents(listener: EventListener | undefined): { listener: EventListener; flush(): void; discard(): void } {
  const held: HaulEvent[] = []
  let state: 'holding' | 'passing' | 'discarded' = 'holding'
  const flush = (): void => {
    for (const e of held.splice(0)) listener?.(e)
  }
  return {
    listener(event) {
      if (state === 'discarded') return
      if (state === 'holding' && event.event !== 'wait') {
        held.push(event)
        if (event.event !== 'progress' || event.bytes === 0) return
        state = 'passing'
        flush()
        return
      }
      listener?.(event)
    },
    flush,
    discard() {
      held.length = 0
      state = 'discarded'
    },
  }
}
