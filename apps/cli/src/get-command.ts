import { resolve } from 'node:path'
import { RateLimiter, type HaulEvent } from '@haul/core'
import type { HttpTrace } from '@haul/http'
import { parseGetCommand, type GetRequest } from './args.js'
import { runBatch } from './batch.js'
import { optionsFromEnv } from './env-options.js'
import { withIpfsAddresses } from './ipfs-address.js'
import { exitCodeFor } from './exit-codes.js'
import { defaultOutput, fetchRequest, streamRequest, type GetContext } from './get.js'
import { Reporter, reporterMode } from './reporter.js'
import { describeTrace } from './trace-line.js'
import { RunStop } from './run-stop.js'

/** Said on stderr whatever the mode: -k must never go unnoticed in a log. */
const INSECURE_WARNING = 'haul: WARNING: -k/--insecure: TLS certificates are NOT verified; anyone on the network path can read and change this download. Give the server\'s CA with --cacert FILE instead.\n'

/** One SOURCE: to its file (named from the remote unless -o), or onto stdout with `-o -`. */
async function runSingle(request: GetRequest, context: GetContext, stop: RunStop, reporter: Reporter): Promise<void> {
  const run = {
    tuning: optionsFromEnv(context.env ?? process.env),
    connections: request.connections,
    signal: stop.signal,
    onEvent: (e: HaulEvent) => reporter.event(stop.translate(e)),
    ...(reporter.verbose ? { onHttp: (trace: HttpTrace) => reporter.note(describeTrace(trace)) } : {}),
    ...(request.totalRateLimit === undefined ? {} : { totalLimiter: new RateLimiter(request.totalRateLimit) }),
  }
  // stdout is written in order as bytes arrive, so one connection serves it.
  if (request.stdout === true) return void (await streamRequest(request, context.stdout, { ...run, connections: 1 }))
  const folder = resolve(context.cwd, request.dir ?? '')
  const { output, answer } = request.output === undefined ? await defaultOutput(request, folder, stop.signal, run.onHttp) : { output: resolve(folder, request.output), answer: undefined }
  await fetchRequest(request, output, run, answer)
}

/** `haul get`: one download or a batch, stopped by SIGINT/SIGTERM or --timeout; returns the exit status. */
export async function runGet(argv: string[], context: GetContext): Promise<number> {
  let reporter = new Reporter(argv.includes('--json') ? 'json' : 'quiet', context)
  const stop = new RunStop(context.signals)
  try {
    const command = await withIpfsAddresses(() => parseGetCommand(argv, context.env, context.cwd))
    const shared = command.mode === 'batch' ? command.batch.shared : command.request
    if (shared.timeoutMs !== undefined) stop.timeoutAfter(shared.timeoutMs)
    if (shared.network.insecure === true) context.stderr.write(INSECURE_WARNING)
    if (command.mode === 'batch') return await runBatch(command.batch, context, stop)
    reporter = new Reporter(reporterMode(command.request, context.stderr), context, { verbose: command.request.verbose, env: context.env ?? process.env })
    await runSingle(command.request, context, stop, reporter)
    return 0
  } catch (err) {
    const error = stop.asError(err)
    if (!reporter.ended) reporter.event({ event: 'error', code: error.code, message: error.message })
    return exitCodeFor(error.code, stop.caught)
  } finally {
    stop.dispose()
  }
}
