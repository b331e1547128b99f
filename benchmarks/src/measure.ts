import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** One timed run. */
export interface Sample {
  /** Wall time, seconds. */
  seconds: number
  /** Peak resident set, KiB (`/usr/bin/time -f %M`). */
  rssKiB: number
  userSeconds: number
  systemSeconds: number
}

/** A command in a comparison. `prepare` runs before each timed run, outside the timing. */
export interface Contender {
  label: string
  argv: string[]
  prepare?: () => Promise<void> | void
  /** Checks the run's result (e.g. the output's size); throws when it is wrong. */
  check?: () => void | Promise<void>
}

/** What a comparison measured for one contender. */
export interface Measured {
  label: string
  command: string
  samples: Sample[]
  medianSeconds: number
  peakRssMiB: number
  /** Bytes one run transferred, when it differs from the comparison's. */
  bytes?: number
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** `argv` as a shell would read it. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
}

/**
 * Runs `argv` under `/usr/bin/time` (for peak RSS) and times it. Throws with the command's stderr
 * when it fails.
 */
export async function timed(timeBin: string, argv: readonly string[], scratch: string): Promise<Sample> {
  mkdirSync(scratch, { recursive: true })
  const report = join(scratch, 'time.txt')
  rmSync(report, { force: true })
  const started = process.hrtime.bigint()
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(timeBin, ['-f', '%M %U %S', '-o', report, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4000)
    })
    child.once('error', reject)
    child.once('close', (c) => resolve({ code: c, stderr: err }))
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (code !== 0) throw new Error(`${shellLine(argv)} exited with ${code}:\n${stderr}`)
  const line = readFileSync(report, 'utf8').trim().split('\n').at(-1) ?? ''
  const [rss, user, sys] = line.split(' ').map(Number)
  return { seconds, rssKiB: rss ?? NaN, userSeconds: user ?? NaN, systemSeconds: sys ?? NaN }
}

/** Flushes dirty pages so one run's writeback does not land in the next run's time. */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => spawn('sync', [], { stdio: 'ignore' }).once('close', () => resolve()))
}

/**
 * Empties the page cache (as root; elsewhere nothing happens and false is returned), so every
 * comparison starts from the same memory state: a page cache of many GiB left by earlier work
 * made each copy into it slower here (a 1 GiB curl 1.6 → 2.4 s, haul more).
 */
export async function dropCaches(): Promise<boolean> {
  await settle()
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n')
    return true
  } catch {
    return false
  }
}

/**
 * Runs the contenders in turn, A B … A B …: one warm-up round, then `pairs` measured rounds, so
 * that drift on a shared machine hits every contender alike.
 */
export async function alternate(timeBin: string, contenders: readonly Contender[], pairs: number, scratch: string, log: (line: string) => void): Promise<Measured[]> {
  const samples = contenders.map(() => [] as Sample[])
  for (let round = 0; round <= pairs; round++) {
    for (const [i, c] of contenders.entries()) {
      await c.prepare?.()
      await settle()
      const s = await timed(timeBin, c.argv, scratch)
      await c.check?.()
      log(`  ${round === 0 ? 'warm-up ' : `round ${round}`} ${c.label}: ${s.seconds.toFixed(2)} s, ${(s.rssKiB / 1024).toFixed(0)} MiB`)
      if (round > 0) samples[i]!.push(s)
    }
  }
  return contenders.map((c, i) => measured(c.label, c.argv, samples[i]!))
}

export function measured(label: string, argv: readonly string[], samples: Sample[]): Measured {
  return {
    label,
    command: shellLine(argv),
    samples,
    medianSeconds: median(samples.map((s) => s.seconds)),
    peakRssMiB: Math.max(...samples.map((s) => s.rssKiB)) / 1024,
  }
}

/** Median of the per-round ratios a/b. */
export function medianRatio(a: Measured, b: Measured): number {
  return median(a.samples.map((s, i) => s.seconds / b.samples[i]!.seconds))
}
