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
