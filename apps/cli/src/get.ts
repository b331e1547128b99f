import { join, resolve } from 'node:path'
import type { DownloadOptions, DownloadResult, HaulEvent } from '@haul/core'
import { parseGetCommand, type GetRequest } from './args.js'
import { runBatch } from './batch.js'
import { optionsFromEnv, type EnvOptions } from './env-options.js'
import { asHaulError, exitCodeFor } from './exit-codes.js'
import { safeFileName } from './file-name.js'
import { Reporter, reporterMode, type ReporterStreams } from './reporter.js'

/** Where `get` runs: streams, working folder and the process it may listen to for signals. */
export interface GetContext extends ReporterStreams {
  cwd: string
  signals?: NodeJS.EventEmitter
  /** Read by `haul get -i -`. */
  stdin?: NodeJS.ReadableStream
  /** Environment (HAUL_CACHE, XDG_CACHE_HOME); default process.env. */
  env?: NodeJS.ProcessEnv
}

/**
 * The output name when -o is not given, in `cwd`: the remote's suggestion or the URL/CID, made
 * safe. A URL that names a folder (a listing) fails with HAUL_USAGE, pointing at -o.
 */
export async function defaultOutput(request: GetRequest, cwd: string, signal: AbortSignal): Promise<string> {
  if (request.kind === 'ipfs') {
    const input = request.ipfs!
    return join(cwd, safeFileName(input.path.at(-1) ?? input.cid.toString()))
  }
  const { suggestFileName } = await import('@haul/http')
  return join(cwd, await suggestFileName(request.url!, { headers: request.headers, signal }))
}

/** `haul get`: returns the exit status. */
export async function runGet(argv: string[], context: GetContext): Promise<number> {
  const wantsJson = argv.includes('--json')
  let reporter = new Reporter(wantsJson ? 'json' : 'quiet', context)
  const controller = new AbortController()
  let caught: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals): void => {
    if (caught !== undefined) process.exit(exitCodeFor('HAUL_ABORTED', caught)) // a second ^C: leave now
    caught = sig
    controller.abort(new Error(`${sig} received`))
  }
  context.signals?.on('SIGINT', onSignal)
  context.signals?.on('SIGTERM', onSignal)
  try {
    const command = parseGetCommand(argv, context.env)
    if (command.mode === 'batch') return await runBatch(command.batch, context, controller.signal, () => caught)
    const request = command.request
    const tuning = optionsFromEnv(context.env ?? process.env)
    reporter = new Reporter(reporterMode(request, context.stderr), context)
    const folder = resolve(context.cwd, request.dir ?? '')
    const output = request.output === undefined ? await defaultOutput(request, folder, controller.signal) : resolve(folder, request.output)
    await fetchRequest(request, output, { connections: request.connections, signal: controller.signal, onEvent: (e) => reporter.event(e), tuning })
    return 0
  } catch (err) {
    const error = asHaulError(err, caught)
    if (!reporter.ended) reporter.event({ event: 'error', code: error.code, message: error.message })
    return exitCodeFor(error.code, caught)
  } finally {
    context.signals?.off('SIGINT', onSignal)
    context.signals?.off('SIGTERM', onSignal)
  }
}

/** Downloads one parsed request to `output` with the driver its source needs. */
export async function fetchRequest(request: GetRequest, output: string, run: { connections: number; signal: AbortSignal; onEvent: (e: HaulEvent) => void; tuning: EnvOptions }): Promise<DownloadResult> {
  const options: DownloadOptions = {
    ...run.tuning,
    output,
    ...request.digests,
    connections: run.connections,
    ...(request.retries === undefined ? {} : { retries: request.retries }),
    ...(request.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: request.stallTimeoutMs }),
    noWait: request.noWait,
    signal: run.signal,
    onEvent: run.onEvent,
  }
  const cache = request.cache === undefined ? {} : { cache: request.cache }
  // Each driver is loaded only when a source needs it: undici or the IPFS stack cost ~0.1 s each.
  if (request.kind === 'http') {
    const { download } = await import('@haul/http')
    return download(request.url!.href, { ...options, ...cache, mirrors: request.mirrors, headers: request.headers })
  }
  const { download } = await import('@haul/ipfs')
  return download(request.source, { ...options, ...cache, ...(request.gateways === undefined ? {} : { gateways: request.gateways }) })
}
