import { join } from 'node:path'
import { RateLimiter, streamDownload, type DownloadOptions, type DownloadResult, type HaulEvent, type Source, type StreamDownloadResult } from '@haul/core'
import type { GetRequest } from './args.js'
import { nameFromUrl, safeFileName } from './file-name.js'
import type { ReporterStreams } from './reporter.js'

/** Where `get` runs: streams, working folder and the process it may listen to for signals. */
export interface GetContext extends ReporterStreams {
  cwd: string
  signals?: NodeJS.EventEmitter
  /** Read by `haul get -i -`. */
  stdin?: NodeJS.ReadableStream
  /** Environment (HAUL_CACHE, XDG_CACHE_HOME); default process.env. */
  env?: NodeJS.ProcessEnv
}

/** The output name when -o is not given: the remote's suggestion or the URL/CID, made safe, in `cwd`. */
export async function defaultOutput(request: GetRequest, cwd: string, signal: AbortSignal): Promise<string> {
  if (request.kind === 'ipfs') {
    const input = request.ipfs!
    return join(cwd, safeFileName(input.path.at(-1) ?? input.cid.toString()))
  }
  const url = request.url!
  let suggested: string | undefined
  try {
    const { HttpSource } = await import('@haul/http')
    const probe = new HttpSource(url, { headers: request.headers })
    try {
      suggested = (await probe.probe(signal)).fileName
    } finally {
      await probe.close()
    }
  } catch {
    // The download itself reports what is wrong with the source; the name falls back to the URL.
  }
  // A suggestion with nothing usable left (`..`, blanks) falls back to the URL's name.
  return join(cwd, safeFileName(suggested, safeFileName(nameFromUrl(url))))
}

/** What one download of a command runs with. */
export interface FetchRun {
  connections: number
  signal: AbortSignal
  onEvent: (e: HaulEvent) => void
  /** The cap over every file of the command (--total-limit-rate), shared by them. */
  totalLimiter?: RateLimiter
}

/** The rate cap of one download: its own --limit-rate within the command's total, or either. */
function limiterFor(request: GetRequest, run: FetchRun): RateLimiter | undefined {
  if (request.rateLimit === undefined) return run.totalLimiter
  return new RateLimiter(request.rateLimit, run.totalLimiter === undefined ? {} : { within: run.totalLimiter })
}

/** What a download into a file and one onto stdout both take from the request. */
function transferOptions(request: GetRequest, run: FetchRun): Omit<DownloadOptions, 'output'> {
  const rateLimit = limiterFor(request, run)
  return {
    ...request.digests,
    ...(request.retries === undefined ? {} : { retries: request.retries }),
    ...(request.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: request.stallTimeoutMs }),
    ...(rateLimit === undefined ? {} : { rateLimit }),
    signal: run.signal,
    onEvent: run.onEvent,
  }
}

/** Downloads one parsed request to `output` with the driver its source needs. */
export async function fetchRequest(request: GetRequest, output: string, run: FetchRun): Promise<DownloadResult> {
  const options: DownloadOptions = { output, ...transferOptions(request, run), connections: run.connections, noWait: request.noWait }
  const cache = request.cache === undefined ? {} : { cache: request.cache }
  // Each driver is loaded only when a source needs it: undici or the IPFS stack cost ~0.1 s each.
  if (request.kind === 'http') {
    const { download } = await import('@haul/http')
    return download(request.url!.href, { ...options, ...cache, mirrors: request.mirrors, headers: request.headers })
  }
  const { download } = await import('@haul/ipfs')
  return download(request.source, { ...options, ...cache, ...(request.gateways === undefined ? {} : { gateways: request.gateways }) })
}

/** `haul get … -o -`: the request's bytes onto `stdout` as they arrive, verified on the way. */
export async function streamRequest(request: GetRequest, stdout: NodeJS.WritableStream, run: FetchRun): Promise<StreamDownloadResult> {
  const sources: Source[] = []
  if (request.kind === 'http') {
    const { HttpSource } = await import('@haul/http')
    for (const url of [request.url!.href, ...request.mirrors]) sources.push(new HttpSource(url, { headers: request.headers, credentialsOrigin: request.url!.origin }))
  } else {
    const { GatewaySource, resolveGateways } = await import('@haul/ipfs')
    for (const gateway of resolveGateways(request.gateways)) sources.push(new GatewaySource(gateway, request.ipfs!))
  }
  return streamDownload(sources, { output: stdout, ...transferOptions(request, run) })
}
