import { join } from 'node:path'
import { RateLimiter, streamDownload, type DownloadOptions, type DownloadResult, type HaulEvent, type Source, type StreamDownloadResult } from '@haul/core'
import { startHashThread } from '@haul/core/driver'
import type { FirstAnswer, HttpTrace } from '@haul/http'
import type { GetRequest } from './args.js'
import type { EnvOptions } from './env-options.js'
import { httpDriver, ipfsDriver } from './drivers.js'
import { safeFileName } from './file-name.js'
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

/** Where a request without -o goes, and for an HTTP URL the answer that named it. */
export interface DefaultOutput {
  output: string
  /** The GET's answer, for {@link fetchRequest}, which reads its body instead of asking again (and closes it). */
  answer?: FirstAnswer
}

/**
 * The output name when -o is not given, in `cwd`: the remote's suggestion or the URL/CID, made
 * safe. A URL that names a folder (a listing) fails with HAUL_USAGE, pointing at -o. An HTTP URL
 * is named from the answer to its download's own GET (no HEAD first), handed on with the name.
 */
export async function defaultOutput(request: GetRequest, cwd: string, signal: AbortSignal, onHttp?: (trace: HttpTrace) => void): Promise<DefaultOutput> {
  if (request.kind === 'ipfs') {
    const input = request.ipfs!
    return { output: join(cwd, safeFileName(input.path.at(-1) ?? input.cid.toString())) }
  }
  const { openNamed } = await httpDriver()
  const { name, answer } = await openNamed(request.url!, { ...request.network, ...(onHttp === undefined ? {} : { onHttp }), headers: request.headers, signal })
  return { output: join(cwd, name), ...(answer === undefined ? {} : { answer }) }
}

/** What one download of a command runs with. */
export interface FetchRun {
  connections: number
  signal: AbortSignal
  onEvent: (e: HaulEvent) => void
  /** The cap over every file of the command (--total-limit-rate), shared by them. */
  totalLimiter?: RateLimiter
  /** Every HTTP request and response (-v). */
  onHttp?: (trace: HttpTrace) => void
  /** The tuning the environment sets (HAUL_LOCK, HAUL_WRITEBACK_MIB…), for downloads to a file. */
  tuning: EnvOptions
}

/** The request's transport options, with the trace of a verbose run. */
function networkOptions(request: GetRequest, run: FetchRun): GetRequest['network'] & { onHttp?: (trace: HttpTrace) => void } {
  return { ...request.network, ...(run.onHttp === undefined ? {} : { onHttp: run.onHttp }) }
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

/**
 * Downloads one parsed request to `output` with the driver its source needs; `answer`: the one
 * {@link defaultOutput} got, which this closes whatever happens.
 */
export async function fetchRequest(request: GetRequest, output: string, run: FetchRun, answer?: FirstAnswer): Promise<DownloadResult> {
  const options: DownloadOptions = { ...run.tuning, output, ...transferOptions(request, run), connections: run.connections, noWait: request.noWait }
  const cache = request.cache === undefined ? {} : { cache: request.cache }
  if (request.kind === 'http') {
    const { download } = await httpDriver()
    return download(request.url!.href, { ...options, ...networkOptions(request, run), ...cache, mirrors: request.mirrors, headers: request.headers, ...(answer === undefined ? {} : { answer }) })
  }
  await answer?.close()
  // Every block is hashed against its CID: the thread starts while the driver loads.
  if (run.tuning.hashThread !== false) startHashThread()
  const { download } = await ipfsDriver()
  return download(request.source, { ...options, ...networkOptions(request, run), ...cache, ...(request.gateways === undefined ? {} : { gateways: request.gateways }) })
}

/** `haul get … -o -`: the request's bytes onto `stdout` as they arrive, verified on the way. */
export async function streamRequest(request: GetRequest, stdout: NodeJS.WritableStream, run: FetchRun): Promise<StreamDownloadResult> {
  const { createTransport, HttpSource } = await httpDriver()
  // One connection pool for every source, as a download to a file has.
  const transport = createTransport(networkOptions(request, run))
  try {
    const sources: Source[] = []
    if (request.kind === 'http') {
      for (const url of [request.url!.href, ...request.mirrors]) sources.push(new HttpSource(url, { headers: request.headers, credentialsOrigin: request.url!.origin, transport }))
    } else {
      if (run.tuning.hashThread !== false) startHashThread()
      const { GatewaySource, resolveGateways } = await ipfsDriver()
      for (const gateway of resolveGateways(request.gateways)) sources.push(new GatewaySource(gateway, request.ipfs!, { transport }))
    }
    return await streamDownload(sources, { output: stdout, ...transferOptions(request, run) })
  } finally {
    await transport.close()
  }
}
