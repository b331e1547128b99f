import { formatBytes, type HaulEvent } from '@haul/core'

/** How `haul` talks: JSON lines for machines, a live line for a terminal, plain lines for a pipe. */
export type ReporterMode = 'json' | 'tty' | 'plain' | 'quiet'

export interface ReporterStreams {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
}

/** Seconds between progress lines when stderr is not a terminal. */
const PLAIN_INTERVAL_MS = 5000

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  if (seconds < 60) return `${Math.ceil(seconds)}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}

/** `--json` wins, then `-q`; otherwise a live line on a terminal, plain lines on a pipe. */
export function reporterMode(flags: { json: boolean; quiet: boolean }, stderr: ReporterStreams['stderr']): ReporterMode {
  return flags.json ? 'json' : flags.quiet ? 'quiet' : stderr.isTTY === true ? 'tty' : 'plain'
}

/** Renders download events for one of the modes above. */
export class Reporter {
  readonly #mode: ReporterMode
  readonly #io: ReporterStreams
  #lineOpen = false
  #lastPlain = 0
  #endedWithEvent = false

  constructor(mode: ReporterMode, io: ReporterStreams) {
    this.#mode = mode
    this.#io = io
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
        if (e.resumedFrom > 0) this.#say(`Resuming ${e.output} from ${formatBytes(e.resumedFrom)}${e.total === undefined ? '' : ` of ${formatBytes(e.total)}`}`)
        else this.#say(`Downloading ${e.source} → ${e.output}`)
        break
      case 'wait':
        this.#say(`Waiting: another haul process is downloading ${e.output} (lock ${e.lock}); this one continues when it finishes.`)
        break
      case 'retry':
        this.#say(`Retry ${e.attempt}${e.delayMs > 0 ? ` in ${(e.delayMs / 1000).toFixed(1)}s` : ''}: ${e.reason}`)
        break
      case 'restart':
        this.#say(`Starting over from byte 0${e.discarded > 0 ? `, dropping ${formatBytes(e.discarded)} staged` : ''}: ${e.reason}`)
        break
      case 'source':
        this.#say(`Using ${e.source}${e.reason === undefined ? '' : ` (${e.reason})`}`)
        break
      case 'progress':
        this.#progress(e)
        break
      case 'done':
        this.#say(`${e.cached === true ? 'Already there' : 'Saved'}: ${e.path} (${formatBytes(e.bytes)}, sha256 ${e.sha256})`)
        break
    }
  }

  #progress(e: Extract<HaulEvent, { event: 'progress' }>): void {
    const pct = e.total === undefined || e.total === 0 ? '' : ` ${((e.bytes / e.total) * 100).toFixed(1).padStart(5)}%`
    const of = e.total === undefined ? '' : ` / ${formatBytes(e.total)}`
    const eta = e.total === undefined || e.bytesPerSecond <= 0 ? '' : `  ETA ${duration((e.total - e.bytes) / e.bytesPerSecond)}`
    const conns = e.connections > 1 ? `  ${e.connections} conns` : ''
    const text = `${formatBytes(e.bytes)}${of}${pct}  ${formatBytes(e.bytesPerSecond)}/s${eta}${conns}`
    if (this.#mode === 'tty') {
      const width = Math.max(20, (this.#io.stderr.columns ?? 80) - 1)
      this.#io.stderr.write(`\r\x1b[2K${text.slice(0, width)}`)
      this.#lineOpen = true
    } else if (e.bytes > 0 && Date.now() - this.#lastPlain >= PLAIN_INTERVAL_MS) {
      this.#lastPlain = Date.now()
      this.#io.stderr.write(`${text}\n`)
    }
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
