import { join } from 'node:path'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, outDir, type BenchContext } from './context.js'
import { benchFile } from './files.js'
import { alternate, medianRatio, type Measured } from './measure.js'
import { ratioTarget, type ComparisonResult } from './result.js'

/** 5. Scaling: one connection at growing sizes; time should grow linearly and peak RSS stay flat. */
export async function compareScaling(ctx: BenchContext): Promise<ComparisonResult> {
  const rows: Measured[] = []
  const ratios: ComparisonResult['ratios'] = []
  const perGiB: number[] = []
  const curlPerGiB: number[] = []
  const rss: number[] = []
  const sizes = ctx.config.sizes.scaling
  for (const size of sizes) {
    const file = benchFile(ctx.filesDir, size, ctx.log)
    const url = `${ctx.nginx.url}/${file.name}`
    const dir = outDir(ctx, 'scaling')
    const out = join(dir, file.name)
    const prepare = (): void => cleanDir(dir)
    const check = (): void => expectSize(out, size)
    ctx.log(` ${formatSize(size)}`)
    const [haul, curl] = (await alternate(
      ctx.tools.time!,
      [
        { label: `haul ${formatSize(size)}`, argv: haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '-q']), prepare, check },
        { label: `curl ${formatSize(size)}`, argv: [ctx.tools.curl!, '-sS', '-o', out, url], prepare, check },
      ],
      ctx.config.pairs,
      dir + '.scratch',
      ctx.log,
    )) as [Measured, Measured]
    haul.bytes = size
    curl.bytes = size
    rows.push(haul, curl)
    ratios.push({ of: haul.label, to: curl.label, median: medianRatio(haul, curl) })
    perGiB.push(haul.medianSeconds / (size / 2 ** 30))
    curlPerGiB.push(curl.medianSeconds / (size / 2 ** 30))
    rss.push(haul.peakRssMiB)
  }
  const growth = perGiB.at(-1)! / perGiB[0]!
  const fixed = [fixedCost(sizes, perGiB), fixedCost(sizes, curlPerGiB)]
  const rssGrowth = Math.max(...rss) - Math.min(...rss)
  return {
    id: '5-scaling',
    title: `Scaling: ${sizes.map(formatSize).join(', ')}, one connection`,
    bytes: sizes.at(-1)!,
    rows,
    ratios,
    targets: [
      ratioTarget(`haul s/GiB at ${formatSize(sizes.at(-1)!)} over s/GiB at ${formatSize(sizes[0]!)} (linear = 1)`, 1.2, growth),
      { what: 'haul peak RSS spread across sizes', limit: '≤ 20 MiB', actual: `${rssGrowth.toFixed(0)} MiB (${rss.map((r) => r.toFixed(0)).join(' / ')})`, met: rssGrowth <= 20 },
    ],
    notes: [
      `Seconds per GiB, haul: ${perGiB.map((s, i) => `${formatSize(sizes[i]!)} ${s.toFixed(2)}`).join(', ')}; curl: ${curlPerGiB.map((s, i) => `${formatSize(sizes[i]!)} ${s.toFixed(2)}`).join(', ')}. Small sizes carry each one's fixed cost (start-up, and haul's commit): the line through the smallest and largest sizes meets 0 bytes at ${fixed[0]!.toFixed(2)} s for haul, ${fixed[1]!.toFixed(2)} s for curl.`,
    ],
  }
}

/** Where the line through the smallest and the largest size's median times meets 0 bytes: the fixed part of a run. */
function fixedCost(sizes: readonly number[], secondsPerGiB: readonly number[]): number {
  const [s0, s1] = [sizes[0]!, sizes.at(-1)!]
  const [t0, t1] = [(secondsPerGiB[0]! * s0) / 2 ** 30, (secondsPerGiB.at(-1)! * s1) / 2 ** 30]
  return t0 - ((t1 - t0) / (s1 - s0)) * s0
}
