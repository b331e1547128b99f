import { formatBytes, type HaulEvent } from '@haul/core'
import { DEFAULT_PLAIN_INTERVAL_MS } from './defaults.js'
import { formatDuration, progressBar, progressLine, terminalWidth, useColor } from './progress-bar.js'

/**
 * How `haul` talks: JSON lines for machines; on a terminal a live bar (`bar`, which falls back to
 * the live line when narrow) or a live line (`tty`); plain lines for a pipe; errors only.
 */
export type ReporterMode = 'json' | 'bar' | 'tty' | 'plain' | 'quiet'

export interface ReporterStreams {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
}

/** Options of a {@link Reporter}. */
export interface ReporterOptions {
  /** Say more: each HTTP exchange, and every detail of a retry. @default false */
  verbose?: boolean
  /** Where NO_COLOR, TERM and COLUMNS are read. @default process.env */
  env?: NodeJS.ProcessEnv
}

/** `--json` wins, then `-q`; otherwise a live bar on a terminal, plain lines on a pipe. */
export function reporterMode(flags: { json: boolean; quiet: boolean }, stderr: ReporterStreams['stderr']): ReporterMode {
  return flags.json ? 'json' : flags.quiet ? 'quiet' : stderr.isTTY === true ? 'bar' : 'plain'
}

/** "40.0 MiB in 3.2s at 12.5 MiB/s": what a finished transfer took, on average. */
export function transferSummary(bytes: number, fetched: number, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000
  const resumed = fetched < bytes ? ` (${formatBytes(fetched)} this run)` : ''
  return `${formatBytes(bytes)}${resumed} in ${formatDuration(seconds, true)} at ${formatBytes(Math.round(fetched / seconds))}/s`
}

/** Renders download events for one of the modes above. */
export class Reporter {
  readonly #mode: ReporterMode
  readonly #io: ReporterStreams
  readonly #env: NodeJS.ProcessEnv
  readonly verbose: boolean
  #lineOpen = false
  #lastPlain = 0
  #endedWithEvent = false
  /** When the transfer started and from which byte, for the average at the end. */
  #started: { at: number; from: number } | undefined
  /** Whether a progress event brought a speed yet. */
  #measured = false

  constructor(mode: ReporterMode, io: ReporterStreams, options: ReporterOptions = {}) {
    this.#mode = mode
    this.#io = io
    this.#env = options.env ?? process.env
    this.verbose = options.verbose === true
  }

  /** Whether the last thing reported was a final `done` or `error` event. */
  get ended(): boolean {
    return this.#endedWithEvent
  }

  event(e: HaulEvent): void {
    if (e.event === 'done' || e.event === 'error') this.#endedWithEvent = true
    if (this.#mode === 'json') {
      this.#io.stdout.write(`${JSON.stringify(e)}\n`)
      return
    }
    if (e.event === 'error') {
      this.#say(`haul: ${e.message}`)
      return
    }
    if (this.#mode === 'quiet') return
    switch (e.event) {
      case 'start':
        this.#started = { at: Date.now(), from: e.resumedFrom }
        if (e.resumedFrom > 0) this.#say(`Resuming ${e.output} from ${formatBytes(e.resumedFrom)}${e.total === undefined ? '' : ` of ${formatBytes(e.total)}`}`)
        else this.#say(`Downloading ${e.source} → ${e.output === '-' ? 'stdout' : e.output}`)
        break
      case 'wait':
        this.#say(`Waiting: another haul process is downloading ${e.output} (lock ${e.lock}); this one continues when it finishes.`)
        break
      case 'retry':
        this.#say(`Retry ${e.attempt}${e.delayMs > 0 ? ` in ${(e.delayMs / 1000).toFixed(1)}s` : ''}: ${e.reason}`)
        break
      case 'restart':
        // What was kept is gone: this run fetches the whole file.
        if (this.#started !== undefined) this.#started.from = 0
        this.#say(`Starting over from byte 0${e.discarded > 0 ? `, dropping ${formatBytes(e.discarded)} staged` : ''}: ${e.reason}`)
        break
      case 'source':
        this.#say(`Using ${e.source}${e.reason === undefined ? '' : ` (${e.reason})`}`)
        break
      case 'progress':
        this.#progress(e)
        break
      case 'done':
        this.#say(this.#doneLine(e))
        break
      case 'notice':
        this.#say(`Note: ${e.message}`)
        break
    }
  }

  /** A line of its own on stderr (verbose HTTP traces; with --json too, stdout stays JSON). */
  note(text: string): void {
    if (this.#mode !== 'quiet') this.#say(text)
  }

  #doneLine(e: Extract<HaulEvent, { event: 'done' }>): string {
    if (e.cached === true) return `Already there: ${e.path} (${formatBytes(e.bytes)}, sha256 ${e.sha256})`
    const took = this.#started === undefined ? formatBytes(e.bytes) : transferSummary(e.bytes, e.bytes - this.#started.from, Date.now() - this.#started.at)
    return e.path === '-' ? `Wrote ${took} to stdout, sha256 ${e.sha256}` : `Saved: ${e.path} (${took}, sha256 ${e.sha256})`
  }

  #progress(e: Extract<HaulEvent, { event: 'progress' }>): void {
    if (e.bytesPerSecond > 0) this.#measured = true
    // At the end, and before the first measured speed (bytes came in but the window holds one
    // sample), the recent speed says nothing: show the average since the start instead.
    const complete = e.total !== undefined && e.bytes >= e.total
    const unmeasured = !this.#measured && this.#started !== undefined && e.bytes > this.#started.from
    const state = (complete || unmeasured) && this.#started !== undefined ? { ...e, bytesPerSecond: Math.round(((e.bytes - this.#started.from) * 1000) / Math.max(1, Date.now() - this.#started.at)) } : e
    if (this.#mode === 'plain') {
      if (e.bytes > 0 && Date.now() - this.#lastPlain >= DEFAULT_PLAIN_INTERVAL_MS) {
        this.#lastPlain = Date.now()
        this.#io.stderr.write(`${progressLine(state)}\n`)
      }
      return
    }
    const width = terminalWidth(this.#io.stderr, this.#env)
    const bar = this.#mode === 'bar' ? progressBar(state, width, useColor(this.#io.stderr, this.#env)) : undefined
    this.#io.stderr.write(`\r\x1b[2K${bar ?? progressLine(state, Math.max(20, width - 1))}`)
    this.#lineOpen = true
  }

  /** A line of text for people, on stderr, after clearing a live progress line. */
  #say(text: string): void {
    if (this.#lineOpen) {
      this.#io.stderr.write('\r\x1b[2K')
      this.#lineOpen = false
    }
    this.#io.stderr.write(`${text}\n`)
  }
}
