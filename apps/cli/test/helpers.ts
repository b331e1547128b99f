import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { spawnNode, type SpawnChildOptions, type SpawnedChild } from '@haul/testkit'

/** The built CLI. */
export const HAUL = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** Runs `haul ARGS…` as a real child process in `cwd`. */
export function haul(args: string[], cwd: string, options: SpawnChildOptions = {}): SpawnedChild {
  return spawnNode(HAUL, args, { cwd, timeoutMs: 60_000, ...options })
}

export { testBytes } from '@haul/testkit'

/** A writable that records what is written, posing as a terminal (or not) of 80 columns. */
export function captureStream(isTTY: boolean): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  const chunks: string[] = []
  const stream = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        chunks.push(String(chunk))
        cb()
      },
    }),
    { isTTY, columns: 80 },
  )
  return { stream, text: () => chunks.join('') }
}
