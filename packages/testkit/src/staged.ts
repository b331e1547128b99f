import { readdir, readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Bytes the journals in `destination`'s staging folder (`.NAME.haul/w.*∕journal`) claim, as the
 * sum of their data records' ranges (overlaps counted twice; a test only asks "at least").
 */
export async function journaledBytes(destination: string): Promise<number> {
  const root = join(dirname(destination), `.${basename(destination)}.haul`)
  const writers = await readdir(root).catch(() => [] as string[])
  let total = 0
  for (const writer of writers.filter((n) => n.startsWith('w.'))) {
    const text = await readFile(join(root, writer, 'journal'), 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      const m = /^\{"t":"data","s":(\d+),"e":(\d+)\}\t/.exec(line)
      if (m !== null) total += Number(m[2]) - Number(m[1])
    }
  }
  return total
}

/**
 * Waits until the journals of `destination` claim at least `bytes` (a kill after that must
 * resume, where a kill right after a progress event may come before the first journal record).
 * Nothing tells another process when a journal record lands, so this looks every 10 ms, for at
 * most `timeoutMs`; it throws when that passes.
 */
export async function waitForJournaledBytes(destination: string, bytes: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const got = await journaledBytes(destination)
    if (got >= bytes) return got
    if (Date.now() > deadline) throw new Error(`the journal of ${destination} claims ${got} bytes after ${timeoutMs} ms; waited for ${bytes}`)
    await sleep(10)
  }
}
