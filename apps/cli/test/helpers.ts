import { fileURLToPath } from 'node:url'
import { spawnNode, type SpawnChildOptions, type SpawnedChild } from '@haul/testkit'

/** The built CLI. */
export const HAUL = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** Runs `haul ARGS…` as a real child process in `cwd`. */
export function haul(args: string[], cwd: string, options: SpawnChildOptions = {}): SpawnedChild {
  return spawnNode(HAUL, args, { cwd, timeoutMs: 60_000, ...options })
}

export { testBytes } from '@haul/testkit'
