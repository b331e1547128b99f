import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
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
