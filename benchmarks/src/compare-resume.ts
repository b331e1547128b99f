import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, outDir, type BenchContext } from './context.js'
import { benchFile } from './files.js'
import { killWhenProgressPasses } from './kill-at.js'
import { alternate, median, medianRatio } from './measure.js'
import type { ComparisonResult } from './result.js'

/**
 * 4. Resume: SIGKILL haul once it passes half of the file, run it again (timed), and compare with
 * a fresh download of a half-size file: the difference is what re-checking and re-hashing the
 * kept prefix costs. nginx's `$bytes_sent` says how much was fetched twice.
 */
export async function compareResume(ctx: BenchContext): Promise<ComparisonResult> {
  const size = ctx.config.sizes.resume
  const file = benchFile(ctx.filesDir, size, ctx.log)
  const half = benchFile(ctx.filesDir, Math.floor(size / 2), ctx.log)
  const dir = outDir(ctx, 'resume')
  const out = join(dir, file.name)
  const halfOut = join(dir, half.name)
  const url = `${ctx.nginx.url}/${file.name}`
  const killedAt: number[] = []
  const resumedFrom: number[] = []
  const refetched: number[] = []
  let mark = 0
  const rows = await alternate(
    ctx.tools.time!,
    [
      {
        label: 'haul, resumed after SIGKILL at 50%',
        argv: ['sh', '-c', `"$@" > "${join(dir + '.scratch', 'resume.jsonl')}"`, 'haul', ...haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '--json'])],
        prepare: async () => {
          cleanDir(dir)
          mark = ctx.nginx.mark()
          killedAt.push(await killWhenProgressPasses(haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '--json']), size / 2))
        },
        check: async () => {
          expectSize(out, size)
          const start = readFileSync(join(dir + '.scratch', 'resume.jsonl'), 'utf8')
            .split('\n')
            .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { event?: string; resumedFrom?: number }) : {}))
            .find((e) => e.event === 'start')
          resumedFrom.push(start?.resumedFrom ?? 0)
          const records = await ctx.nginx.accessSince(mark)
          refetched.push(records.filter((r) => r.uri.endsWith(file.name)).reduce((n, r) => n + r.bytesSent, 0) - size)
        },
      },
      {
        label: `haul, fresh ${formatSize(half.size)}`,
        argv: haulArgv(ctx, [`${ctx.nginx.url}/${half.name}`, '-o', halfOut, '--sha256', half.sha256, '--json']),
        prepare: () => cleanDir(dir),
        check: () => expectSize(halfOut, half.size),
      },
    ],
    ctx.config.pairs,
    dir + '.scratch',
    ctx.log,
  )
  const [resumed, fresh] = rows as [typeof rows[0], typeof rows[0]]
  // The warm-up round is in killedAt/resumedFrom/refetched too; report the measured rounds.
  const measuredRounds = <T>(xs: T[]): T[] => xs.slice(-ctx.config.pairs)
  const ratio = medianRatio(resumed, fresh)
  const refetchedMedian = median(measuredRounds(refetched))
  // DESIGN: a kill costs at most a few MiB, or a fraction of a second, of re-fetching.
  const freshRate = half.size / fresh.medianSeconds
  const refetchedSeconds = refetchedMedian / freshRate
  return {
    id: '4-resume',
    title: `Resume: ${formatSize(size)} killed (SIGKILL) past 50%, then run again`,
    bytes: size,
    rows,
    ratios: [{ of: resumed.label, to: fresh.label, median: ratio }],
    targets: [
      {
        what: 'bytes fetched twice (nginx $bytes_sent of both runs − file size; includes response headers)',
        limit: 'a few MiB or a fraction of a second',
        actual: `${(refetchedMedian / 1024 / 1024).toFixed(1)} MiB = ${(refetchedSeconds * 1000).toFixed(0)} ms at the fresh run's rate`,
        met: refetchedMedian <= 8 * 1024 * 1024 || refetchedSeconds <= 0.25,
      },
    ],
    notes: [
      `Killed when progress passed ${formatSize(size / 2)}: at ${measuredRounds(killedAt).map((b) => formatSize(b)).join(', ')}; resumed from ${measuredRounds(resumedFrom).map((b) => formatSize(b)).join(', ')}.`,
      `Re-fetched per round: ${measuredRounds(refetched).map((b) => `${(b / 1024 / 1024).toFixed(1)} MiB`).join(', ')}.`,
      'The resumed run trusts the journal\'s claims (same boot: the page cache still holds them; nothing is read back for them) and re-hashes the kept prefix (sha256) before it can commit.',
    ],
  }
}
