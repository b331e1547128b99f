import { join } from 'node:path'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, nodeFloorArgv, nodeSocketFloorArgv, nodeVerifiedFloorArgv, outDir, type BenchContext } from './context.js'
import { sha256Rate } from './cpu-floor.js'
import { benchFile } from './files.js'
import { alternate, medianRatio } from './measure.js'
import { ratioTarget, rssTarget, type ComparisonResult } from './result.js'

/** 1. One big file over loopback, one connection: haul (verified) vs curl (unverified) and curl && sha256sum. */
export async function compareLoopback(ctx: BenchContext): Promise<ComparisonResult> {
  const file = benchFile(ctx.filesDir, ctx.config.sizes.loopback, ctx.log)
  const url = `${ctx.nginx.url}/${file.name}`
  const dir = outDir(ctx, 'loopback')
  const out = join(dir, file.name)
  const prepare = (): void => cleanDir(dir)
  const check = (): void => expectSize(out, file.size)
  const rows = await alternate(
    ctx.tools.time!,
    [
      { label: 'haul --sha256', argv: haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '-q']), prepare, check },
      { label: 'curl -o', argv: [ctx.tools.curl!, '-sS', '-o', out, url], prepare, check },
      { label: 'haul --sha256, HAUL_FSYNC=0', argv: ['env', 'HAUL_FSYNC=0', ...haulArgv(ctx, [url, '-o', out, '--sha256', file.sha256, '-q'])], prepare, check },
      { label: 'curl -o && sync FILE', argv: ['sh', '-c', `"$0" -sS -o "$1" "$2" && sync "$1"`, ctx.tools.curl!, out, url], prepare, check },
      { label: 'curl -o && sha256sum', argv: ['sh', '-c', `"$0" -sS -o "$1" "$2" && "$3" "$1" >/dev/null`, ctx.tools.curl!, out, url, ctx.tools.sha256sum!], prepare, check },
      { label: 'node + undici → file (floor, unverified)', argv: nodeFloorArgv(url, out), prepare, check },
      { label: 'node net onread → writeSync (socket floor, unverified)', argv: nodeSocketFloorArgv(url, out), prepare, check },
      { label: 'the same + sha256 on a second thread (verified socket floor)', argv: nodeVerifiedFloorArgv(url, out, file.sha256), prepare, check },
    ],
    // Five rounds at least: the row sits near its target on some machines, where three rounds'
    // median moved by 10% from one run to the next.
    Math.max(ctx.config.pairs, 5),
    dir + '.scratch',
    ctx.log,
  )
  const [haul, curl, unsynced, curlSynced, curlSha, floor, socketFloor, verifiedFloor] = rows as [typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0]]
  const ratio = medianRatio(haul, curl)
  // SHA-256 of one stream runs on one core: no verified download of the file is quicker.
  const hashRate = sha256Rate()
  const hashSeconds = file.size / hashRate
  return {
    id: '1-loopback',
    title: `${formatSize(file.size)} from nginx over loopback, one connection`,
    bytes: file.size,
    rows,
    ratios: [
      { of: haul.label, to: curl.label, median: ratio },
      { of: haul.label, to: curlSynced.label, median: medianRatio(haul, curlSynced) },
      { of: unsynced.label, to: curl.label, median: medianRatio(unsynced, curl) },
      { of: haul.label, to: curlSha.label, median: medianRatio(haul, curlSha) },
      { of: haul.label, to: floor.label, median: medianRatio(haul, floor) },
      { of: haul.label, to: socketFloor.label, median: medianRatio(haul, socketFloor) },
      { of: floor.label, to: curl.label, median: medianRatio(floor, curl) },
      { of: socketFloor.label, to: curl.label, median: medianRatio(socketFloor, curl) },
      { of: verifiedFloor.label, to: curl.label, median: medianRatio(verifiedFloor, curl) },
      { of: unsynced.label, to: verifiedFloor.label, median: medianRatio(unsynced, verifiedFloor) },
    ],
    targets: [
      ratioTarget('haul / curl -o', 1.25, ratio),
      rssTarget(haul, 100),
    ],
    notes: [
      `SHA-256 runs at ${(hashRate / 1e9).toFixed(2)} GB/s in one thread here (node:crypto), so hashing the file takes ${hashSeconds.toFixed(2)} s on one core whatever else runs: ${(hashSeconds / curl.medianSeconds).toFixed(2)}× \`curl -o\` before any byte is read or written (a digest of one stream cannot be split across cores).`,
      'haul hashes while it downloads and fsyncs before the atomic rename; curl does neither. So the target compares a durable, verified commit with bytes left in the page cache: `curl -o && sync FILE` is what curl takes to make the same bytes durable, and `HAUL_FSYNC=0` is haul with everything but the fsyncs (the commit stays atomic, a power cut may lose it). On a disk that writes back slower than the network delivers, the durable rows are bound by the disk.',
      'The floor rows do nothing but save the body: Node.js + undici piping it into a file (what a stream-shaped client starts from), and a `net` socket reading with `onread` into one reused buffer, each read written with `writeSync` (what the runtime itself can do). haul reads with `onread` too, into reused buffers, on plain http.',
      'The verified socket floor adds what haul cannot leave out: SHA-256 of every byte, on a second thread (reads land in 1 MiB slots of a shared ring, the thread hashes them in order, the socket pauses when the ring is full). No HTTP parsing beyond the head, no journal, lock, resume or fsync: `HAUL_FSYNC=0` ÷ this is what haul\'s own code costs on top of a verified download in Node.js.',
    ],
  }
}
