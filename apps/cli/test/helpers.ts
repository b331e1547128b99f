import { fileURLToPath } from 'node:url'
import { spawnNode, type SpawnChildOptions, type SpawnedChild } from '@haul/testkit'

/** The built CLI. */
export const HAUL = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** Runs `haul ARGS…` as a real child process in `cwd`. */
export function haul(args: string[], cwd: string, options: SpawnChildOptions = {}): SpawnedChild {
  return spawnNode(HAUL, args, { cwd, timeoutMs: 60_000, ...options })
}

/** Deterministic pseudo-random bytes. */
export function testBytes(size: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
