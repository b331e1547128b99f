import { join } from 'node:path'
import { cleanDir, expectSize, haulArgv, nodeFetchSaveArgv, outDir, type BenchContext } from './context.js'
import { benchFile } from './files.js'
import { alternate, medianRatio } from './measure.js'
import { ratioTarget, rssTarget, type ComparisonResult } from './result.js'

const FILE_BYTES = 4096

/**
 * 8. One small file: `haul get` of 4 KiB vs the smallest Node.js program that saves a URL
 * (`node -e` with fetch and writeFile), and curl. At this size the time is start-up (what loads
 * before the first request) and the commit; the peak RSS is the runtime and what haul loads.
 */
export async function compareSmall(ctx: BenchContext): Promise<ComparisonResult> {
  const file = benchFile(ctx.filesDir, FILE_BYTES, ctx.log)
  const url = `${ctx.nginx.url}/${file.name}`
  const dir = outDir(ctx, 'small')
  const out = join(dir, file.name)
  const prepare = (): void => cleanDir(dir)
  const check = (): void => expectSize(out, file.size)
  const rows = await alternate(
    ctx.tools.time!,
    [
      { label: 'haul get (4 KiB)', argv: haulArgv(ctx, [url, '-o', out, '-q']), prepare, check },
      { label: 'node -e fetch + writeFile', argv: nodeFetchSaveArgv(url, out), prepare, check },
      { label: 'curl -o', argv: [ctx.tools.curl!, '-sS', '-o', out, url], prepare, check },
    ],
    // Runs of a few tens of milliseconds: more rounds, so the medians hold still.
    Math.max(ctx.config.pairs, 9),
    dir + '.scratch',
    ctx.log,
  )
  const [haul, node, curl] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]]
  const ratio = medianRatio(haul, node)
  return {
    id: '8-small',
    title: 'One 4 KiB file from nginx',
    bytes: FILE_BYTES,
    rows,
    ratios: [
      { of: haul.label, to: node.label, median: ratio },
      { of: haul.label, to: curl.label, median: medianRatio(haul, curl) },
      { of: node.label, to: curl.label, median: medianRatio(node, curl) },
    ],
    targets: [
      ratioTarget('haul / node -e fetch-and-save', 1.5, ratio),
      rssTarget(haul, 70),
    ],
    notes: [
      'haul locks the destination, stages the bytes and fsyncs the file and its folder before it reports the file done; the node -e one-liner and curl write the file and nothing else.',
    ],
  }
}
