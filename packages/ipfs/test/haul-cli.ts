import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { listStaged } from '@haul/core'
import { spawnNode, type SpawnChildOptions, type SpawnedChild } from '@haul/testkit'

/** The built CLI (turbo builds it before the tests run). */
export const HAUL = fileURLToPath(new URL('../../../apps/cli/dist/bin.js', import.meta.url))

/** Runs `haul ARGS…` as a real child process in `cwd`. */
export function haul(args: string[], cwd: string, options: SpawnChildOptions = {}): SpawnedChild {
  return spawnNode(HAUL, args, { cwd, timeoutMs: 60_000, ...options })
}

/**
 * Waits until the journals staged for `destination` vouch for at least `bytes` (core's
 * listStaged reads them as a resume would): a kill after that must resume, where a kill right
 * after a progress event may come before the first journal record. Nothing tells another process
 * when a record lands, so this looks every 10 ms, for at most `timeoutMs`; it throws after that.
 */
export async function waitForJournaledBytes(destination: string, bytes: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const got = (await listStaged(destination)).reduce((sum, s) => sum + s.bytesOnDisk, 0)
    if (got >= bytes) return got
    if (Date.now() > deadline) throw new Error(`the journals of ${destination} vouch for ${got} bytes after ${timeoutMs} ms; waited for ${bytes}`)
    await sleep(10)
  }
}
