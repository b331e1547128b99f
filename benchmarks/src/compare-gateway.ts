import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, nodeCarFloorArgv, nodeCarSocketFloorArgv, nodeFloorArgv, nodeSocketFloorArgv, outDir, type BenchContext } from './context.js'
import { benchFile } from './files.js'
import { cidCpuFloor, gatewayCpuPerFetch } from './cpu-floor.js'
import { startGatewayProcess } from './gateway.js'
import { alternate, median, medianRatio, type Measured } from './measure.js'
import { ratioTarget, type ComparisonResult } from './result.js'

/**
 * 3. A CIDv1 file with raw leaves from the testkit gateway: haul (every block hashed against its
 * CID) vs curl of the gateway's deserialized path response (nothing verified). curl of the CAR
 * shows what the gateway itself can serve.
 */
export async function compareGateway(ctx: BenchContext): Promise<ComparisonResult> {
  const file = benchFile(ctx.filesDir, ctx.config.sizes.gateway, ctx.log)
  ctx.log('  importing into the gateway (UnixFS, CIDv1, raw leaves, 256 KiB chunks)')
  const gateway = await startGatewayProcess(file.path)
  try {
    const dir = outDir(ctx, 'gateway')
    const out = join(dir, file.name)
    const prepare = (): void => cleanDir(dir)
    const check = (): void => expectSize(out, file.size)
    const pathUrl = `${gateway.url}/ipfs/${gateway.cid}`
    const carUrl = `${pathUrl}?format=car&dag-scope=entity`
    const curlCar = (to: string): string[] => [ctx.tools.curl!, '-sS', '-o', to, '-H', 'accept: application/vnd.ipld.car', carUrl]
    const rows = await alternate(
      ctx.tools.time!,
      [
        { label: 'haul ipfs://CID', argv: haulArgv(ctx, [`ipfs://${gateway.cid}`, '--gateway', gateway.url, '-o', out, '-q']), prepare, check },
        { label: 'curl /ipfs/CID (path, unverified)', argv: [ctx.tools.curl!, '-sS', '-o', out, pathUrl], prepare, check },
        {
          label: 'curl CAR (unverified, not unpacked)',
          argv: curlCar(out),
          prepare,
        },
        { label: 'node + undici → file (path, floor, unverified)', argv: nodeFloorArgv(pathUrl, out), prepare, check },
        { label: 'node net onread → writeSync (path, socket floor, unverified)', argv: nodeSocketFloorArgv(pathUrl, out), prepare, check },
        {
          label: 'node http → CAR, every block against its CID, file sha256 (verified CAR floor, stream-shaped)',
          argv: nodeCarFloorArgv(carUrl, out, file.sha256),
          prepare,
          check,
        },
        {
          label: 'the same on a net socket with onread (verified CAR socket floor)',
          argv: nodeCarSocketFloorArgv(carUrl, out, file.sha256),
          prepare,
          check,
        },
      ],
      // Five rounds at least: a run lasts well under a second and the row sits near its target,
      // where three rounds' median moved by 10% from one run to the next.
      Math.max(ctx.config.pairs, 5),
      dir + '.scratch',
      ctx.log,
    )
    const [haul, curl, car, floor, socketFloor, carFloor, carSocketFloor] = rows as [Measured, Measured, Measured, Measured, Measured, Measured, Measured]
    const ratio = medianRatio(haul, curl)
    // The work no client can leave out, measured on this machine (see cpu-floor.ts).
    const gatewayCar = gatewayCpuPerFetch(gateway.pid, 3, () => {
      const [curl, ...args] = curlCar('/dev/null')
      const r = spawnSync(curl!, args, { stdio: 'inherit' })
      if (r.status !== 0) throw new Error('curl of the CAR failed')
    })
    const cpuFloor = cidCpuFloor(file.size, gatewayCar)
    const curlSeconds = curl.medianSeconds
    return {
      id: '3-gateway',
      title: `${formatSize(file.size)} CIDv1 (raw leaves) from the testkit gateway`,
      bytes: file.size,
      rows,
      ratios: [
        { of: haul.label, to: curl.label, median: ratio },
        { of: haul.label, to: car.label, median: medianRatio(haul, car) },
        { of: haul.label, to: floor.label, median: medianRatio(haul, floor) },
        { of: haul.label, to: socketFloor.label, median: medianRatio(haul, socketFloor) },
        { of: floor.label, to: curl.label, median: medianRatio(floor, curl) },
        { of: socketFloor.label, to: curl.label, median: medianRatio(socketFloor, curl) },
        { of: carFloor.label, to: curl.label, median: medianRatio(carFloor, curl) },
        { of: haul.label, to: carFloor.label, median: medianRatio(haul, carFloor) },
        { of: carSocketFloor.label, to: curl.label, median: medianRatio(carSocketFloor, curl) },
        { of: haul.label, to: carSocketFloor.label, median: medianRatio(haul, carSocketFloor) },
      ],
      targets: [ratioTarget('haul / curl of the path', 2.0, ratio)],
      notes: [
        `The CPU floor on this machine: SHA-256 runs at ${(cpuFloor.sha256BytesPerSecond / 1e9).toFixed(2)} GB/s in one thread, so the block check and the file's SHA-256 (the result's \`sha256\`) take ${cpuFloor.hashingCpuSeconds.toFixed(2)} s of CPU; the gateway spends ${cpuFloor.gatewayCarCpuSeconds.toFixed(2)} s of CPU on each CAR response, on the same cores. With both cores busy from exec to exit on nothing else, no client could verify this CID in less than ${cpuFloor.wallSeconds.toFixed(2)} s: ${(cpuFloor.wallSeconds / curlSeconds).toFixed(2)}× the curl of the path (median ${curlSeconds.toFixed(2)} s). haul takes ${(haul.medianSeconds / cpuFloor.wallSeconds).toFixed(2)}× that bound.`,
        `The gateway runs in its own node process (CID ${gateway.cid}). The curl rows are the gateway's own speed: haul cannot beat them.`,
        // On a shared machine wall times swing with the load; CPU time is what each program itself spent.
        `CPU seconds (user + system, median of rounds): ${rows.map((r) => `${r.label} ${cpuSeconds(r).toFixed(2)}`).join('; ')}.`,
        'The testkit gateway sends the CAR chunked, one chunk per write: a section length, a CID and a block each (haul decodes the chunked framing on its socket path).',
        'The floor rows save the same unverified path response and nothing else: Node.js + undici piping it to a file, and a `net` socket with `onread` into one reused buffer and `writeSync`.',
        'The verified CAR floor does what haul cannot leave out of `ipfs://CID`, and nothing else: the CAR over `node:http`, each section split out, every block hashed against the digest its CID names and every leaf written and hashed into the file\'s SHA-256 on a second thread (blocks moved to it, not copied). No DAG checks, rotation, journal, lock or fsync. Two SHA-256 passes over every byte (≈ 0.3 s of SHA-NI for 256 MiB) and the gateway\'s own CPU share the two cores.',
        'The verified CAR socket floor does the same work with the socket read as haul reads it (`net` with `onread` into one reused 1 MiB buffer, chunked framing and sections split by hand, each block copied once out of the read buffer and moved to the worker, which checks it against its CID and hashes a leaf into the file\'s SHA-256 in one message each way): what the runtime can do for a verified CID, and so the floor haul ÷ this measures haul\'s own code against. The stream-shaped floor is what `node:http` costs on top.',
      ],
    }
  } finally {
    await gateway.stop()
  }
}

/** Median CPU time (user + system) of a row's runs. */
function cpuSeconds(row: Measured): number {
  return median(row.samples.map((s) => s.userSeconds + s.systemSeconds))
}
