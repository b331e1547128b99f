import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * Runs `argv` (a haul command with `--json`) and SIGKILLs it once a progress event reports at
 * least `bytes`. Resolves with the bytes the last progress event reported.
 */
export async function killWhenProgressPasses(argv: readonly string[], bytes: number): Promise<number> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  let seen = 0
  let killed = false
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => {
    let event: { event?: string; bytes?: number }
    try {
      event = JSON.parse(line) as typeof event
    } catch {
      return
    }
    if (event.event === 'progress' && typeof event.bytes === 'number') {
      seen = event.bytes
      if (seen >= bytes && !killed) {
        killed = true
        child.kill('SIGKILL')
      }
    }
  })
  const exit = await new Promise<NodeJS.Signals | number | null>((resolve) => child.once('close', (code, signal) => resolve(signal ?? code)))
  if (!killed) throw new Error(`haul ended (${String(exit)}) before it passed ${bytes} bytes; nothing to resume`)
  return seen
}
