import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanDir, haulArgv, nodeBatchFloorArgv, outDir, type BenchContext } from './context.js'
import { benchFileSet } from './files.js'
import { alternate, medianRatio } from './measure.js'
import { ratioTarget, type ComparisonResult } from './result.js'

const FILES = 300
const FILE_BYTES = 16 * 1024
const JOBS = 8

/**
 * 7. Many small files as one batch: `haul get -i LIST -j 8` vs `aria2c -i LIST -j 8`, the same
 * list of 300 URLs of 16 KiB each from nginx. What counts here is the cost per file — start-up is
 * paid once — and keeping 8 requests in flight on kept-alive connections.
 */
export async function compareBatch(ctx: BenchContext): Promise<ComparisonResult> {
  const files = benchFileSet(ctx.filesDir, FILES, FILE_BYTES, ctx.log)
  const dir = outDir(ctx, 'batch')
  const list = join(ctx.config.workDir, 'batch-list.txt')
  writeFileSync(list, files.names.map((name) => `${ctx.nginx.url}/${files.folder}/${name}\n`).join(''))
  const prepare = (): void => cleanDir(dir)
  const check = (): void => {
    const landed = readdirSync(dir).filter((name) => statSync(join(dir, name)).size === FILE_BYTES)
    if (landed.length !== FILES) throw new Error(`${dir} has ${landed.length} files of ${FILE_BYTES} bytes, expected ${FILES}`)
  }
  const rows = await alternate(
    ctx.tools.time!,
    [
      { label: `haul get -i LIST -j ${JOBS}`, argv: haulArgv(ctx, ['-i', list, '-j', String(JOBS), '-d', dir, '-q']), prepare, check },
      {
        label: `aria2c -i LIST -j ${JOBS}`,
        argv: [ctx.tools.aria2c!, '-q', '-i', list, '-j', String(JOBS), '-d', dir, '--allow-overwrite=true', '--auto-file-renaming=false'],
        prepare,
        check,
      },
      { label: `node http → haul's staging calls (floor, staged)`, argv: nodeBatchFloorArgv(list, JOBS, dir, 'staged'), prepare, check },
      { label: `node http → temp, fsync, rename, fsync folder (floor, durable)`, argv: nodeBatchFloorArgv(list, JOBS, dir, 'durable'), prepare, check },
      { label: `node http → writeFile (floor, plain)`, argv: nodeBatchFloorArgv(list, JOBS, dir, 'plain'), prepare, check },
    ],
    Math.max(ctx.config.pairs, 5),
    dir + '.scratch',
    ctx.log,
  )
  const [haul, aria, staged, durable, plain] = rows as [typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0]]
  const ratio = medianRatio(haul, aria)
  return {
    id: '7-batch',
    title: `${FILES} files of ${FILE_BYTES / 1024} KiB from nginx as one batch, ${JOBS} at a time`,
    bytes: FILES * FILE_BYTES,
    rows,
    ratios: [
      { of: haul.label, to: aria.label, median: ratio },
      { of: staged.label, to: aria.label, median: medianRatio(staged, aria) },
      { of: durable.label, to: aria.label, median: medianRatio(durable, aria) },
      { of: plain.label, to: aria.label, median: medianRatio(plain, aria) },
      { of: haul.label, to: staged.label, median: medianRatio(haul, staged) },
    ],
    targets: [ratioTarget('haul / aria2c', 1.0, ratio)],
    notes: [
      'Both read the same list of URLs, which names no files: each names a file from its GET\'s own answer (Content-Disposition, else the URL), one request per file. haul commits every file as a transaction (lock — a byte of the folder\'s lock file —, staging beside the file, fsync of the file, rename, fsync of its folder — shared by the renames that complete meanwhile — before it is reported done; no journal for a body that arrives in one piece); aria2c writes the files and fsyncs nothing.',
      'The floor rows are Node.js without haul, 8 at a time on kept-alive `node:http` connections, each body gathered in memory: written with `writeFile` as aria2c does (plain), or committed the least durable way (durable: a temporary file beside the destination, fsync, rename, fsync of the folder — haul\'s commit without its lock, staging folder and checks). What durable takes is what any Node.js program pays to promise a file survives a power cut once reported. staged makes the calls of haul\'s commit that create, write, sync, rename and remove, in haul\'s layout (the folder\'s lock file opened and its record slot written, the data file beside the destination — a staging folder is made only for a journal), without the lock, the checking reads or any of haul\'s code: the difference from durable is the layout\'s, the difference from haul is haul\'s code.',
    ],
  }
}
