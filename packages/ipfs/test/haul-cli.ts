import { fileURLToPath } from 'node:url'
import { spawnNode, type SpawnChildOptions, type SpawnedChild } from '@haul/testkit'

/** The built CLI (turbo builds it before the tests run). */
export const HAUL = fileURLToPath(new URL('../../../apps/cli/dist/bin.js', import.meta.url))

/** Runs `haul ARGS…` as a real child process in `cwd`. */
export function haul(args: string[], cwd: string, options: SpawnChildOptions = {}): SpawnedChild {
  return spawnNode(HAUL, args, { cwd, timeoutMs: 60_000, ...options })
}
