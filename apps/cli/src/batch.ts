import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { HaulError, RateLimiter } from '@haul/core'
import type { FirstAnswer, HttpTrace } from '@haul/http'
import { entryRequest, type BatchRequest, type EntryOptions, type GetRequest } from './args.js'
import { BatchReporter, describeFile, type BatchFile } from './batch-reporter.js'
import { ConnectionBudget } from './connection-budget.js'
import { asHaulError, exitCodeFor, mostSevere } from './exit-codes.js'
import { optionsFromEnv } from './env-options.js'
import { defaultOutput, fetchRequest, type GetContext } from './get.js'
import { parseInputFile } from './input-file.js'
import { withIpfsAddresses } from './ipfs-address.js'
import { reporterMode } from './reporter.js'
import type { RunStop } from './run-stop.js'
import { describeTrace } from './trace-line.js'

interface Job {
  file: BatchFile
  request: GetRequest
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8')
}

async function readInput(batch: BatchRequest, context: GetContext): Promise<string> {
  if (batch.input === undefined) return ''
  if (batch.input === '-') return readAll(context.stdin ?? process.stdin)
  const path = resolve(context.cwd, batch.input)
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new HaulError('HAUL_USAGE', `Could not read the input file ${path}: ${(err as Error).message}`, { path, cause: err })
  }
}

/**
 * `haul get` with several SOURCEs or `-i FILE`: downloads up to `jobs` files at once within one
 * connection budget, reports every file, and returns the exit status of the most serious
 * failure (0 when every file landed). A bad line fails alone; the others go on.
 */
export async function runBatch(batch: BatchRequest, context: GetContext, stop: RunStop): Promise<number> {
  const { shared } = batch
  const signal = stop.signal
  const tuning = optionsFromEnv(context.env ?? process.env)
  const mode = reporterMode(shared, context.stderr)
  const folder = resolve(context.cwd, batch.dir ?? '')
  const entries: Array<{ source: string; line?: number; options: EntryOptions; error?: string }> = [
    ...batch.sources.map((source) => ({ source, options: { digests: {}, mirrors: [] } })),
    ...parseInputFile(await readInput(batch, context)),
  ]
  if (entries.length === 0) throw new HaulError('HAUL_USAGE', `No SOURCE in ${batch.input === '-' ? 'stdin' : (batch.input ?? 'the arguments')}: write one URL or CID a line.`)
  const files: BatchFile[] = []
  const jobs: Job[] = []
  const rejected: BatchFile[] = []
  for (const entry of entries) {
    const file: BatchFile = {
      source: entry.source,
      ...(entry.line === undefined ? {} : { line: entry.line }),
      ...(entry.options.output === undefined ? {} : { output: resolve(folder, entry.options.output) }),
      state: 'queued',
      bytes: 0,
      bytesPerSecond: 0,
    }
    files.push(file)
    try {
      if (entry.error !== undefined) throw new HaulError('HAUL_USAGE', entry.error)
      jobs.push({ file, request: await withIpfsAddresses(() => entryRequest(entry.source, entry.options, shared)) })
    } catch (err) {
      const error = asHaulError(err, undefined)
      file.failure = { code: error.code, message: error.message }
      rejected.push(file)
    }
  }
  const reporter = new BatchReporter(mode, context, files, context.env ?? process.env)
  for (const file of rejected) reporter.failed(file)

  const budget = new ConnectionBudget(batch.maxConnections)
  const totalLimiter = shared.totalRateLimit === undefined ? undefined : new RateLimiter(shared.totalRateLimit)
  const claimed = new Map<string, BatchFile>()
  const run = async (job: Job): Promise<void> => {
    const { file, request } = job
    const onHttp = shared.verbose ? (trace: HttpTrace) => reporter.note(file, describeTrace(trace)) : undefined
    let connections = 0
    // The GET that named the file, until fetchRequest takes it over.
    let answer: FirstAnswer | undefined
    try {
      connections = await budget.acquire(request.connections, signal)
      if (file.output === undefined) ({ output: file.output, answer } = await defaultOutput(request, folder, signal, onHttp))
      const other = claimed.get(file.output)
      if (other !== undefined) throw new HaulError('HAUL_USAGE', `${file.output} is also the output of ${describeFile(other)}; give this one its own out= name.`, { path: file.output })
      claimed.set(file.output, file)
      file.state = 'active'
      const given = answer
      answer = undefined
      const result = await fetchRequest(request, file.output, {
        connections,
        signal,
        onEvent: (e) => reporter.event(file, stop.translate(e)),
        tuning,
        ...(totalLimiter === undefined ? {} : { totalLimiter }),
        ...(onHttp === undefined ? {} : { onHttp }),
      }, given)
      reporter.landed(file, result.bytes, result.cached)
    } catch (err) {
      await answer?.close()
      const error = stop.asError(err)
      file.failure = { code: error.code, message: error.message }
      reporter.failed(file)
    } finally {
      if (connections > 0) budget.release(connections)
    }
  }
  const queue = [...jobs]
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined && !signal.aborted; job = queue.shift()) await run(job)
  }
  await Promise.all(Array.from({ length: Math.min(batch.jobs, jobs.length) }, worker))

  const signalled = stop.caught
  const worst = mostSevere(files.flatMap((f) => (f.state === 'failed' && f.failure !== undefined ? [f.failure.code] : [])))
  const exitCode = signalled !== undefined ? exitCodeFor('HAUL_ABORTED', signalled) : worst === undefined ? 0 : exitCodeFor(worst)
  reporter.summary(exitCode, signalled)
  return exitCode
}
