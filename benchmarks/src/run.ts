/**
 * `pnpm bench`: haul against curl and aria2c, side by side. Writes results/<id>.json per
 * comparison, results/latest.json and results/latest.md. See config.ts for the BENCH_* variables.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compareBatch } from './compare-batch.js'
import { compareGateway } from './compare-gateway.js'
import { compareHelia } from './compare-helia.js'
import { compareLoopback } from './compare-loopback.js'
import { compareParallel } from './compare-parallel.js'
import { compareResume } from './compare-resume.js'
import { compareScaling } from './compare-scaling.js'
import { compareSmall } from './compare-small.js'
import { loadConfig } from './config.js'
import type { BenchContext } from './context.js'
import { describeMachine, finishMachine, unsetExtraCaCerts, type Machine } from './machine.js'
import { dropCaches } from './measure.js'
import { holdPageReporting } from './page-reporting.js'
import { startNginx } from './nginx.js'
import { markdown } from './report.js'
import type { ComparisonResult } from './result.js'
import { ensureTools } from './tools.js'

const LIMIT_RATE = '20m'
/** The stored results' ids, comparison 1 first. */
const COMPARISON_IDS = ['1-loopback', '2-parallel', '3-gateway', '4-resume', '5-scaling', '6-helia', '7-batch', '8-small']

const log = (line: string): void => void process.stderr.write(`${line}\n`)

async function main(): Promise<void> {
  const config = loadConfig()
  if (process.env.BENCH_REPORT_ONLY === '1') return rewriteReport(config)
  const started = new Date()
  const tools = ensureTools(log)
  const machine = describeMachine(tools)
  unsetExtraCaCerts(machine)
  const filesDir = join(config.workDir, 'files')
  mkdirSync(config.resultsDir, { recursive: true })
  const nginx = await startNginx(tools.nginx!, filesDir, join(config.workDir, 'nginx'), LIMIT_RATE)
  // Held once nginx is up; the signal handlers below and the finally always set it back.
  const reporting = holdPageReporting()
  if (reporting !== undefined) machine.pageReporting = reporting.found
  const stop = (): void => {
    reporting?.restore()
    void nginx.stop().finally(() => process.exit(130))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const ctx: BenchContext = { config, tools, nginx, filesDir, log }
  const comparisons: Array<[number, string, () => Promise<ComparisonResult>]> = [
    [1, 'loopback', () => compareLoopback(ctx)],
    [2, 'parallel', () => compareParallel(ctx, LIMIT_RATE)],
    [3, 'gateway', () => compareGateway(ctx)],
    [4, 'resume', () => compareResume(ctx)],
    [5, 'scaling', () => compareScaling(ctx)],
    [6, 'helia', () => compareHelia(ctx)],
    [7, 'batch', () => compareBatch(ctx)],
    [8, 'small', () => compareSmall(ctx)],
  ]
  const results: ComparisonResult[] = []
  try {
    for (const [n, name, run] of comparisons) {
      if (!config.only.has(n)) continue
      log(`${n}. ${name}${(await dropCaches()) ? ' (page cache dropped)' : ''}`)
      const result = await run()
      results.push(result)
      finishMachine(machine)
      writeFileSync(join(config.resultsDir, `${result.id}.json`), `${JSON.stringify({ machine, started: started.toISOString(), result }, null, 2)}\n`)
      for (const t of result.targets) log(`  ${t.met ? 'met' : 'MISSED'}: ${t.what} ${t.actual} (${t.limit})`)
    }
  } finally {
    reporting?.restore()
    await nginx.stop()
  }
  finishMachine(machine)
  // BENCH_ONLY reruns some comparisons; the report keeps the others' last results.
  const all = comparisons.flatMap(([n]) => results.find((r) => r.id.startsWith(`${n}-`)) ?? stored(config.resultsDir, n))
  const md = markdown(all, machine, config, started)
  writeFileSync(join(config.resultsDir, 'latest.json'), `${JSON.stringify({ machine, config: { ...config, only: [...config.only] }, started: started.toISOString(), results: all }, null, 2)}\n`)
  writeFileSync(join(config.resultsDir, 'latest.md'), md)
  process.stdout.write(md)
  log(`results in ${config.resultsDir}`)
}

/** Rebuilds latest.md and latest.json from the stored results/<id>.json, without running anything. */
function rewriteReport(config: ReturnType<typeof loadConfig>): void {
  const stored1 = COMPARISON_IDS.map((id) => {
    const path = join(config.resultsDir, `${id}.json`)
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { machine: Machine; started: string; result: ComparisonResult }) : undefined
  })
  const found = stored1.filter((s) => s !== undefined)
  const first = found[0]
  if (first === undefined) throw new Error(`no results in ${config.resultsDir}`)
  const last = found.at(-1)!
  const machine: Machine = { ...first.machine, load: { start: first.machine.load.start, ...(last.machine.load.end === undefined ? {} : { end: last.machine.load.end }) } }
  const md = markdown(found.map((s) => s.result), machine, config, new Date(first.started))
  writeFileSync(join(config.resultsDir, 'latest.md'), md)
  process.stdout.write(md)
}

/** The last stored result of comparison `n`, if any. */
function stored(dir: string, n: number): ComparisonResult[] {
  const id = COMPARISON_IDS[n - 1]
  const path = join(dir, `${id}.json`)
  if (id === undefined || !existsSync(path)) return []
  return [(JSON.parse(readFileSync(path, 'utf8')) as { result: ComparisonResult }).result]
}

await main()
