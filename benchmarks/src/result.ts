import type { Measured } from './measure.js'

/** A target the issue sets, and whether this run met it. */
export interface Target {
  what: string
  limit: string
  actual: string
  met: boolean
}

/** One comparison's outcome, as written to results/<id>.json. */
export interface ComparisonResult {
  id: string
  title: string
  /** Bytes transferred per run. */
  bytes: number
  rows: Measured[]
  /** Ratio rows: haul's time over each peer's, median of the rounds. */
  ratios: Array<{ of: string; to: string; median: number }>
  targets: Target[]
  notes: string[]
}

/** A target that a median ratio stays at or below `limit`. */
export function ratioTarget(what: string, limit: number, ratio: number): Target {
  return { what, limit: `≤ ${limit}`, actual: ratio.toFixed(2), met: ratio <= limit }
}

/** A target that haul's peak RSS (of `row`) stays at or below `limitMiB`. */
export function rssTarget(row: Measured, limitMiB: number): Target {
  return { what: 'haul peak RSS', limit: `≤ ${limitMiB} MiB`, actual: `${row.peakRssMiB.toFixed(0)} MiB`, met: row.peakRssMiB <= limitMiB }
}
