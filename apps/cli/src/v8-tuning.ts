import { setFlagsFromString } from 'node:v8'

/**
 * How much bytecode a function runs before V8 considers optimizing it, for the haul command
 * (V8's default: 67584). A haul run is short and CPU-bound on every core it has: the stream's
 * hashes, the event loop, often the server on the same machine. At the default V8 sends a few
 * hundred functions that ran a handful of times to TurboFan, whose threads then took ≈ 0.15 s of
 * CPU from that work (`perf` of 256 MiB by CID). Fifteen times the budget still optimizes the
 * loops that move bytes, within the first megabytes, and leaves the rest to the baseline
 * compiler. A/B, 8 alternating rounds: 256 MiB by CID 0.68 → 0.635 s (CPU 0.935 → 0.845 s);
 * 300 × 16 KiB at -j 8 0.625 → 0.575 s (CPU 0.85 → 0.76 s); 1 GiB unchanged (1.22 / 1.26 s).
 */
export const INTERRUPT_BUDGET = 1_000_000

/**
 * Sets the budget for this process (and its worker threads: V8 flags are per process), unless
 * the user set one (NODE_OPTIONS or node's own arguments), before the command's modules run.
 * A library user's process is left alone: only the CLI imports this.
 */
export function tuneV8(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): boolean {
  if ([...execArgv, nodeOptions].some((arg) => arg.includes('interrupt-budget'))) return false
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`)
  return true
}
