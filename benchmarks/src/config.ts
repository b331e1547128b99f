import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What one bench run does; every field can be set from the environment. */
export interface BenchConfig {
  /** A fast smoke run with small files (`BENCH_QUICK=1`). */
  quick: boolean
  /** Measured pairs per comparison, after one warm-up pair (`BENCH_PAIRS`). */
  pairs: number
  /** Comparisons to run, by number (`BENCH_ONLY=1,3`). */
  only: Set<number>
  /** Where generated files, nginx state and outputs live (`BENCH_WORK`). */
  workDir: string
  /** Where results go. */
  resultsDir: string
  /** The repository root (for the haul CLI). */
  repoRoot: string
  sizes: {
    loopback: number
    parallel: number
    gateway: number
    resume: number
    scaling: number[]
  }
}

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Parses a byte count like `256M`, `1G`, `4096`. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim())
  if (m === null) throw new Error(`not a size: ${text}`)
  const unit = { '': 1, k: 1024, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']
  return Math.round(Number(m[1]) * unit)
}

function sizeFromEnv(name: string, fallback: number): number {
  const v = process.env[name]
  return v === undefined || v === '' ? fallback : parseSize(v)
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true'
  const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..')
  const benchDir = resolve(repoRoot, 'benchmarks')
  const pairs = Number(env.BENCH_PAIRS ?? (quick ? 2 : 3))
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`BENCH_PAIRS must be a whole number ≥ 1, got ${env.BENCH_PAIRS}`)
  const only = new Set((env.BENCH_ONLY ?? '1,2,3,4,5,6,7,8').split(',').map((s) => Number(s.trim())).filter((n) => n >= 1 && n <= 8))
  const scale = quick ? 1 / 16 : 1
  return {
    quick,
    pairs,
    only,
    workDir: resolve(env.BENCH_WORK ?? resolve(benchDir, '.work')),
    resultsDir: resolve(benchDir, quick ? 'results/quick' : 'results'),
    repoRoot,
    sizes: {
      loopback: sizeFromEnv('BENCH_LOOPBACK_SIZE', GiB * scale),
      parallel: sizeFromEnv('BENCH_PARALLEL_SIZE', 512 * MiB * scale),
      gateway: sizeFromEnv('BENCH_GATEWAY_SIZE', 256 * MiB * scale),
      resume: sizeFromEnv('BENCH_RESUME_SIZE', GiB * scale),
      scaling: (env.BENCH_SCALING_SIZES?.split(',').map(parseSize) ?? [256 * MiB, GiB, 4 * GiB]).map((s) => (env.BENCH_SCALING_SIZES === undefined ? Math.round(s * scale) : s)),
    },
  }
}

/** `1073741824` → `1 GiB`. */
export function formatSize(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`
  return `${bytes} B`
}
