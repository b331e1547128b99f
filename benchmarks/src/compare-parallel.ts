import { join } from 'node:path'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, outDir, type BenchContext } from './context.js'
import { benchFile } from './files.js'
import { alternate, medianRatio } from './measure.js'
import { ratioTarget, rssTarget, type ComparisonResult } from './result.js'

/** 2. A rate-limited server (limit_rate per connection): haul -x 8 vs aria2c -x8 -s8 -k1M. */
export async function compareParallel(ctx: BenchContext, limitRate: string): Promise<ComparisonResult> {
  const file = benchFile(ctx.filesDir, ctx.config.sizes.parallel, ctx.log)
  const url = `${ctx.nginx.url}/slow/${file.name}`
  const dir = outDir(ctx, 'parallel')
  const out = join(dir, file.name)
  // GET requests per run, from nginx's access log: limit_rate applies per request, so the count
  // says how much each tool's pattern meets nginx's per-request allowance (see the note).
  const requests = { haul: [] as number[], aria2c: [] as number[] }
  let mark = 0
  const prepare = (): void => {
    cleanDir(dir)
    mark = ctx.nginx.mark()
  }
  const checkAs = (who: keyof typeof requests) => async (): Promise<void> => {
    expectSize(out, file.size)
    requests[who].push((await ctx.nginx.accessSince(mark)).filter((r) => r.uri.endsWith(file.name)).length)
  }
  const rows = await alternate(
    ctx.tools.time!,
    [
      { label: 'haul -x 8 --sha256', argv: haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '-q', '-x', '8']), prepare, check: checkAs('haul') },
      {
        label: 'aria2c -x8 -s8 -k1M',
        argv: [ctx.tools.aria2c!, '-x8', '-s8', '-k1M', '-q', '--dir', dir, '--out', file.name, '--allow-overwrite=true', '--auto-file-renaming=false', url],
        prepare,
        check: checkAs('aria2c'),
      },
    ],
    ctx.config.pairs,
    dir + '.scratch',
    ctx.log,
  )
  const [haul, aria] = rows as [typeof rows[0], typeof rows[0]]
  const ratio = medianRatio(haul, aria)
  return {
    id: '2-parallel',
    title: `${formatSize(file.size)} from nginx with limit_rate ${limitRate} per connection, 8 connections`,
    bytes: file.size,
    rows,
    ratios: [{ of: haul.label, to: aria.label, median: ratio }],
    targets: [
      ratioTarget('haul / aria2c', 1.0, ratio),
      rssTarget(haul, 200),
    ],
    notes: [
      `nginx caps every request (\`limit_rate ${limitRate}\`), so both are bound by 8 connections' worth; the ratio shows how soon each gets 8 streams going and how well it keeps them busy to the end.`,
      `GET requests per run: haul ${requests.haul.join(', ')}; aria2c ${requests.aria2c.join(', ')}. haul hands out pieces of about 1/64 of the file in file order (so its sha256 keeps up instead of re-reading most of the file at the end), one request each. nginx's limit_rate lets each request start with one second's worth at full speed (limit = rate × (whole seconds since the request began + 1)), so a pattern with more, shorter requests also gets more of that allowance: part of haul's lead here comes from it, and a server that throttles per connection would not give it.`,
    ],
  }
}
