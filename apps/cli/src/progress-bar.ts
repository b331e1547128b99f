import { formatBytes } from '@haul/core'

/** What a progress display shows. */
export interface ProgressState {
  bytes: number
  total?: number
  bytesPerSecond: number
  connections: number
}

/** Width assumed for a terminal that reports none and has no $COLUMNS (`script`, `docker run -t`). */
const DEFAULT_COLUMNS = 80
/** Below this many cells the bar is left out and the plain line is shown. */
const MIN_BAR_CELLS = 10
/** A wider bar says nothing more. */
const MAX_BAR_CELLS = 50
/**
 * Room kept for the text after the bar ("6.0 MiB / 6.0 MiB  5.5 MiB/s  ETA 1s  2 conns" and a
 * little more), so the bar keeps its width while the text changes length.
 */
const TAIL_CELLS = 48

/** The terminal's width: what it reports, else $COLUMNS, else 80. */
export function terminalWidth(stream: { columns?: number }, env: NodeJS.ProcessEnv): number {
  if (stream.columns !== undefined && stream.columns > 0) return stream.columns
  const columns = Number(env.COLUMNS)
  return Number.isInteger(columns) && columns > 0 ? columns : DEFAULT_COLUMNS
}

/** Whether to colour: a terminal, NO_COLOR unset (https://no-color.org) and TERM not dumb. */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb'
}

/** 42 → "42s", 125 → "2m05s", 7300 → "2h01m"; under 10 s with a tenth when `precise`. */
export function formatDuration(seconds: number, precise = false): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  if (precise && seconds < 10) return `${seconds.toFixed(1)}s`
  if (seconds < 60) return `${Math.ceil(seconds)}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * Bytes, total and percent, speed, ETA and connections on one line: "10.0 MiB / 40.0 MiB  25.0%
 * 5.0 MiB/s  ETA 6s  4 conns". With a `width`, the ETA and connections go first when it does not
 * fit, then the end of the line.
 */
export function progressLine(p: ProgressState, width = Number.POSITIVE_INFINITY): string {
  const pct = p.total === undefined || p.total === 0 ? '' : ` ${((p.bytes / p.total) * 100).toFixed(1).padStart(5)}%`
  const head = `${formatBytes(p.bytes)}${p.total === undefined ? '' : ` / ${formatBytes(p.total)}`}${pct}  ${formatBytes(p.bytesPerSecond)}/s`
  const line = `${head}${rest(p)}`
  return line.length <= width ? line : head.slice(0, width)
}

/** ETA and connections, after the speed. */
function rest(p: ProgressState): string {
  const eta = p.total === undefined || p.bytesPerSecond <= 0 || p.bytes >= p.total ? '' : `  ETA ${formatDuration((p.total - p.bytes) / p.bytesPerSecond)}`
  return `${eta}${p.connections > 1 ? `  ${p.connections} conns` : ''}`
}

/**
 * The progress bar, `width` cells at most: " 25% [=====>        ] 10.0 MiB / 40.0 MiB  5.0 MiB/s
 * ETA 6s  4 conns". Undefined when the total is unknown or a bar of 10 cells does not fit, so
 * the caller shows the plain line instead.
 */
export function progressBar(p: ProgressState, width: number, color: boolean): string | undefined {
  if (p.total === undefined || p.total === 0) return undefined
  const fraction = Math.min(1, p.bytes / p.total)
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`
  const tail = ` ${formatBytes(p.bytes)} / ${formatBytes(p.total)}  ${formatBytes(p.bytesPerSecond)}/s${rest(p)}`
  const cells = Math.min(MAX_BAR_CELLS, width - 1 - pct.length - ' []'.length - Math.max(TAIL_CELLS, tail.length))
  if (cells < MIN_BAR_CELLS) return undefined
  const full = Math.floor(fraction * cells)
  const done = '='.repeat(full) + (full < cells && full > 0 ? '>' : '')
  const todo = ' '.repeat(cells - done.length)
  return `${pct} [${color && done !== '' ? `\x1b[32m${done}\x1b[0m` : done}${todo}]${tail}`
}
