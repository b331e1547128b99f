// Rounds of concurrent `haul get` processes on a network folder (sshfs mounts of one export, one
// mount per simulated host), with a watcher that looks at the destination through every mount
// while they run, and random SIGKILLs of lock holders.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { ChildEvent, SpawnedChild } from '@haul/testkit'

/** How often the watcher looks at each path. */
const WATCH_INTERVAL_MS = 25
/** The watcher stops on its own after this many looks, so a hung round can't keep it going. */
const MAX_WATCH_LOOKS = 20_000

/** A small seeded PRNG (mulberry32), so that a failing round can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')))
  })
}

/** Errors a reader on a network folder meets when another host replaces or removes a file. */
const GONE = new Set(['ENOENT', 'ESTALE'])

/** What a watcher saw. */
export interface WatchReport {
  looks: number
  /** Distinct versions (size + mtime + inode on that mount) that were read back and hashed. */
  hashed: number
  violations: string[]
}

/**
 * Looks at every path in turn until stopped: whenever something is there it must be the whole
 * file — the expected size, and (read back whenever it looks different) the expected SHA-256.
 */
export function watchDestination(paths: readonly string[], size: number, sha256: string): { stop(): Promise<WatchReport> } {
  const report: WatchReport = { looks: 0, hashed: 0, violations: [] }
  const seen = new Set<string>()
  let stopped = false
  const loop = (async () => {
    while (!stopped && report.looks < MAX_WATCH_LOOKS) {
      for (const path of paths) {
        report.looks++
        const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
          if (!GONE.has(err.code ?? '')) report.violations.push(`stat ${path}: ${err.message}`)
          return undefined
        })
        if (st === undefined) continue
        if (st.size !== size) {
          report.violations.push(`${path} held ${st.size} bytes, not ${size}`)
          continue
        }
        const key = `${path} ${st.ino} ${st.mtimeMs} ${st.size}`
        if (seen.has(key)) continue
        seen.add(key)
        const actual = await sha256File(path).catch((err: NodeJS.ErrnoException) => {
          if (!GONE.has(err.code ?? '')) report.violations.push(`read ${path}: ${err.message}`)
          return undefined
        })
        if (actual === undefined) continue
        report.hashed++
        if (actual !== sha256) report.violations.push(`${path} held bytes with sha256 ${actual}, not the file`)
      }
      await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      return report
    },
  }
}

/** One `haul get` of a round. */
export interface Runner {
  child: SpawnedChild
  /** Index of the mount (host) it runs on. */
  host: number
  killed: boolean
}

/**
 * SIGKILLs up to `count` lock holders on `host`, one after the other: each, once it has started
 * downloading (a `start` event) and fetched a random share of the file (a progress event), unless
 * it finishes first. A holder is a process that printed `start` and no `done`/`error` yet.
 */
export async function killHolders(runners: readonly Runner[], host: number, count: number, size: number, rand: () => number): Promise<number> {
  let kills = 0
  const onHost = runners.filter((r) => r.host === host)
  for (let k = 0; k < count; k++) {
    const fraction = 0.1 + rand() * 0.7
    const holder = await Promise.any(
      onHost
        .filter((r) => !r.killed)
        .map((r) =>
          r.child
            .waitForEvent((e: ChildEvent) => e.event === 'progress' && typeof e.bytes === 'number' && e.bytes >= fraction * size && r.child.events.some((s) => s.event === 'start'), { timeoutMs: 120_000 })
            .then(() => r),
        ),
    ).catch(() => undefined) // every remaining process ended without becoming a holder
    if (holder === undefined || holder.child.exitStatus !== undefined) break
    const ended = holder.child.events.some((e) => e.event === 'done' || e.event === 'error')
    if (ended) continue
    holder.killed = true
    holder.child.signal('SIGKILL')
    await holder.child.waitForExit()
    kills++
  }
  return kills
}

/** A short description of how a runner ended, for the report. */
export function describeEnd(r: Runner): string {
  const exit = r.child.exitStatus
  if (exit === undefined) return 'running'
  if (r.killed) return 'killed'
  const last = r.child.events.at(-1)
  if (exit.code === 0) return last?.cached === true ? '0 (cached)' : '0'
  return `${String(exit.code ?? exit.signal)} ${typeof last?.code === 'string' ? last.code : ''}`.trim()
}
