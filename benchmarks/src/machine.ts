import { spawnSync } from 'node:child_process'
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
import type { PageReporting } from './page-reporting.js'
import { versionOf } from './tools.js'

/** Where the numbers come from. */
export interface Machine {
  nproc: number
  cpu: string
  memoryGiB: number
  node: string
  kernel: string
  /** 1-minute load average when the run started and ended: other work on the machine skews times. */
  load: { start: number; end?: number }
  peers: Record<string, string>
  /** NODE_EXTRA_CA_CERTS as the run found it, and what it cost a Node start (see {@link unsetExtraCaCerts}). */
  extraCaCerts?: { file: string; startMs: number; withoutMs: number }
  /** The free page reporting the run found and held off (see holdPageReporting). */
  pageReporting?: PageReporting
}

export function describeMachine(tools: Record<string, string>): Machine {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `Linux ${release()}`,
    load: { start: loadavg()[0]! },
    peers: {
      curl: versionOf(tools.curl!).split(' ').slice(0, 2).join(' '),
      aria2c: versionOf(tools.aria2c!),
      nginx: versionOf(tools.nginx!, '-v').replace('nginx version: ', ''),
    },
  }
}

/** Records the load average at the end of the run. */
export function finishMachine(machine: Machine): void {
  machine.load.end = loadavg()[0]!
}

/** Median wall time of `node -e 0` in milliseconds, over `runs` starts with `env`. */
function nodeStartMs(env: NodeJS.ProcessEnv, runs = 5): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' })
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}

/**
 * Unsets NODE_EXTRA_CA_CERTS for every command the bench runs, recording what it cost. Some
 * machines set it to the system bundle: every Node process then parses some 140 certificates
 * before its first line of JavaScript (≈ 80 ms here), a cost of that machine's set-up that no
 * comparison needs (none uses TLS) and that curl and aria2c never pay.
 */
export function unsetExtraCaCerts(machine: Machine): void {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (file === undefined || file === '') return
  const without = { ...process.env }
  delete without.NODE_EXTRA_CA_CERTS
  machine.extraCaCerts = { file, startMs: Math.round(nodeStartMs(process.env)), withoutMs: Math.round(nodeStartMs(without)) }
  delete process.env.NODE_EXTRA_CA_CERTS
}
