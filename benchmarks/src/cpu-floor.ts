import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/**
 * What a verified CID download must spend on this machine whatever the code: SHA-256 of every
 * block (against its CID) and of the whole file (the result's `sha256`), plus the gateway's own
 * CPU for the CAR response it serves on the same cores. Divided by the cores, it is a lower bound
 * on the wall time, reached only if both cores were busy with nothing else from exec to exit.
 */
export interface CidCpuFloor {
  /** node:crypto SHA-256 throughput in one thread, bytes per second (best of three 64 MiB runs). */
  sha256BytesPerSecond: number
  /** CPU seconds (user + system, all its threads) the gateway process spent per CAR response. */
  gatewayCarCpuSeconds: number
  /** CPU seconds of the two SHA-256 passes over `bytes`. */
  hashingCpuSeconds: number
  /** (hashing + gateway) ÷ cores: no client can verify the CID in less wall time. */
  wallSeconds: number
}

let measuredRate: number | undefined

/**
 * SHA-256 in this thread, bytes per second: the best of three passes over 64 MiB in 1 MiB updates,
 * measured once per process (the comparisons that state it share it).
 */
export function sha256Rate(): number {
  return (measuredRate ??= measureSha256Rate())
}

function measureSha256Rate(): number {
  const block = Buffer.alloc(1 << 20, 0x5a)
  let best = Infinity
  for (let run = 0; run < 3; run++) {
    const start = process.hrtime.bigint()
    const hash = createHash('sha256')
    for (let i = 0; i < 64; i++) hash.update(block)
    hash.digest()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9)
  }
  return (64 << 20) / best
}

let clockTicks: number | undefined

/** CPU seconds (user + system) process `pid` has used so far, from /proc (Linux). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks; this slice starts at field 3.
  const ticks = Number(fields[11]) + Number(fields[12])
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
  return ticks / clockTicks
}

/** The gateway's CPU per CAR response, over `fetches` runs of `fetch` (each must fetch it once). */
export function gatewayCpuPerFetch(pid: number, fetches: number, fetch: () => void): number {
  const before = processCpuSeconds(pid)
  for (let i = 0; i < fetches; i++) fetch()
  return (processCpuSeconds(pid) - before) / fetches
}

export function cidCpuFloor(bytes: number, gatewayCarCpuSeconds: number, rate = sha256Rate()): CidCpuFloor {
  const hashingCpuSeconds = (2 * bytes) / rate
  return {
    sha256BytesPerSecond: rate,
    gatewayCarCpuSeconds,
    hashingCpuSeconds,
    wallSeconds: (hashingCpuSeconds + gatewayCarCpuSeconds) / availableParallelism(),
  }
}
