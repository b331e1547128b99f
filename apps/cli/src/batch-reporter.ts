import { basename } from 'node:path'
import { formatBytes, type HaulErrorCode, type HaulEvent } from '@haul/core'
import { DEFAULT_PLAIN_INTERVAL_MS, DEFAULT_TTY_INTERVAL_MS } from './defaults.js'
import { exitCodeFor } from './exit-codes.js'
import { progressBar, terminalWidth, useColor } from './progress-bar.js'
import { transferSummary, type ReporterMode, type ReporterStreams } from './reporter.js'

/** One file of a batch, as the reporter sees it. */
export interface BatchFile {
  /** The SOURCE as written. */
  source: string
  /** Input-file line of the SOURCE (absent for command-line SOURCEs). */
  line?: number
  /** The output path, once known. */
  output?: string
  state: 'queued' | 'active' | 'landed' | 'failed'
  bytes: number
  total?: number
  bytesPerSecond: number
  /** Bytes it had on disk from an earlier run when it started. */
  resumedFrom?: number
  failure?: { code: HaulErrorCode; message: string }
}

/** How a file of a batch is named in messages: its line (when from -i), source and output. */
export function describeFile(file: BatchFile): string {
  const where = file.line === undefined ? '' : `line ${file.line}: `
  return `${where}${file.source === '' ? '(no source)' : file.source}${file.output === undefined ? '' : ` → ${file.output}`}`
}

/**
 * Renders a batch: JSON lines carrying `file` (the output path), `source` and `line`; on a
 * terminal a live block with a line per active file and a total line; otherwise plain lines
 * when a file lands or fails and a total line now and then.
 */
export class BatchReporter {
  readonly #mode: ReporterMode
  readonly #io: ReporterStreams
  readonly #files: ReadonlyArray<BatchFile>
  /** Lines of the live block currently on the terminal. */
  #drawn = 0
  #lastDraw = 0
  #lastPlain = Date.now()
  #bytesDone = 0
  /** Bytes of landed files fetched in this run (not resumed, not already there). */
  #bytesFetched = 0
  readonly #startedAt = Date.now()
  readonly #errorSent = new WeakSet<BatchFile>()
  readonly #env: NodeJS.ProcessEnv
  /** A live block on a terminal (a bar per file in `bar` mode). */
  readonly #live: boolean

  constructor(mode: ReporterMode, io: ReporterStreams, files: ReadonlyArray<BatchFile>, env: NodeJS.ProcessEnv = process.env) {
    this.#mode = mode
    this.#io = io
    this.#files = files
    this.#env = env
    this.#live = mode === 'tty' || mode === 'bar'
  }

  /** A driver event about `file`. */
  event(file: BatchFile, e: HaulEvent): void {
    if (e.event === 'progress') {
      file.bytes = e.bytes
      if (e.total !== undefined) file.total = e.total
      file.bytesPerSecond = e.bytesPerSecond
    } else if (e.event === 'start') {
      if (e.total !== undefined) file.total = e.total
      file.resumedFrom = e.resumedFrom
    }
    if (e.event === 'error') this.#errorSent.add(file)
    if (this.#mode === 'json') {
      // An event's own `source` (the mirror or gateway in use) stays; `file` names the entry.
      this.#json({ ...e, file: file.output, ...('source' in e ? {} : { source: file.source }), ...(file.line === undefined ? {} : { line: file.line }) })
      return
    }
    if (e.event === 'error') {
      // A stopped file is named once, in the summary, with the others the signal stopped.
      if (e.code !== 'HAUL_ABORTED') this.#say(`haul: ${describeFile(file)}: ${e.message}`)
      return
    }
    if (this.#mode === 'quiet') return
    if (e.event === 'wait') this.#say(`Waiting: another haul process is downloading ${e.output}.`)
    else if (e.event === 'retry') this.#say(`${this.#name(file)}: retry ${e.attempt}${e.delayMs > 0 ? ` in ${(e.delayMs / 1000).toFixed(1)}s` : ''}: ${e.reason}`)
    else if (e.event === 'restart') this.#say(`${this.#name(file)}: starting over from byte 0: ${e.reason}`)
    else if (e.event === 'progress') this.#tick()
  }

  /** A line about `file` on stderr (verbose HTTP traces), unless quiet. */
  note(file: BatchFile, text: string): void {
    if (this.#mode !== 'quiet') this.#say(`${this.#name(file)}: ${text}`)
  }

  /** `file` has failed (maybe before any driver ran): reports it once. */
  failed(file: BatchFile): void {
    file.state = 'failed'
    if (this.#errorSent.has(file) || file.failure === undefined) return this.#tick(true)
    this.event(file, { event: 'error', code: file.failure.code, message: file.failure.message })
    this.#tick(true)
  }

  /** `file` is at its path. */
  landed(file: BatchFile, bytes: number, cached: boolean): void {
    file.state = 'landed'
    this.#bytesDone += bytes
    if (!cached) this.#bytesFetched += bytes - (file.resumedFrom ?? 0)
    if (this.#live || this.#mode === 'plain') this.#say(`${cached ? 'Already there' : 'Saved'}: ${file.output ?? file.source} (${formatBytes(bytes)})`)
    this.#tick(true)
  }

  /** The last word: what landed, what failed and why, and the exit status. */
  summary(exitCode: number, signal: NodeJS.Signals | undefined): void {
    this.#clear()
    const failed = this.#files.filter((f) => f.state === 'failed')
    const landed = this.#files.filter((f) => f.state === 'landed').length
    const notStarted = this.#files.filter((f) => f.state === 'queued').length
    if (this.#mode === 'json') {
      this.#json({
        event: 'summary',
        files: this.#files.length,
        landed,
        notStarted,
        failed: failed.map((f) => ({ source: f.source, file: f.output, ...(f.line === undefined ? {} : { line: f.line }), code: f.failure?.code, message: f.failure?.message })),
        exitCode,
      })
      return
    }
    if (failed.length === 0 && notStarted === 0) {
      if (this.#mode !== 'quiet') this.#say(`haul: all ${this.#files.length} files landed (${transferSummary(this.#bytesDone, this.#bytesFetched, Date.now() - this.#startedAt)}).`)
      return
    }
    const stopped = failed.filter((f) => f.failure?.code === 'HAUL_ABORTED')
    const broken = failed.filter((f) => f.failure?.code !== 'HAUL_ABORTED')
    const lines = [`haul: ${landed} of ${this.#files.length} files landed${broken.length > 0 ? `; ${broken.length} failed:` : '.'}`]
    for (const f of broken) lines.push(`  ${describeFile(f)}: ${f.failure?.message ?? 'failed'} [${f.failure?.code ?? '?'}, exit ${f.failure === undefined ? '?' : exitCodeFor(f.failure.code, signal)}]`)
    if (stopped.length > 0) lines.push(`  ${stopped.length} stopped${signal === undefined ? '' : ` by ${signal}`}; the partials are kept and the next run resumes them:`, ...stopped.map((f) => `    ${describeFile(f)}`))
    if (notStarted > 0) lines.push(`  ${notStarted} not started${signal === undefined ? '' : ` (stopped by ${signal})`}.`)
    lines.push(`haul: exit ${exitCode}${signal === undefined ? ' (the most serious failure)' : ''}.`)
    this.#say(lines.join('\n'))
  }

  #name(file: BatchFile): string {
    return file.output === undefined ? file.source : basename(file.output)
  }

  #json(value: Record<string, unknown>): void {
    this.#io.stdout.write(`${JSON.stringify(value)}\n`)
  }

  /** Redraws the live block (terminal) or prints a total line now and then (pipe). */
  #tick(force = false): void {
    const now = Date.now()
    if (this.#live) {
      if (!force && now - this.#lastDraw < DEFAULT_TTY_INTERVAL_MS) return
      this.#lastDraw = now
      this.#clear()
      const width = Math.max(20, terminalWidth(this.#io.stderr, this.#env) - 1)
      const lines = this.#files.filter((f) => f.state === 'active').map((f) => this.#fileLine(f, width))
      lines.push(this.#totalLine())
      this.#io.stderr.write(lines.map((l) => `${l.slice(0, width)}\n`).join(''))
      this.#drawn = lines.length
    } else if (this.#mode === 'plain' && now - this.#lastPlain >= DEFAULT_PLAIN_INTERVAL_MS) {
      this.#lastPlain = now
      this.#io.stderr.write(`${this.#totalLine()}\n`)
    }
  }

  #fileLine(f: BatchFile, width: number): string {
    const name = this.#name(f)
    const bar = this.#mode === 'bar' ? progressBar({ ...f, connections: 0 }, width - name.length - 4, useColor(this.#io.stderr, this.#env)) : undefined
    if (bar !== undefined) return `  ${name}  ${bar}`
    const of = f.total === undefined ? '' : ` / ${formatBytes(f.total)}`
    const pct = f.total === undefined || f.total === 0 ? '' : ` ${((f.bytes / f.total) * 100).toFixed(1).padStart(5)}%`
    return `  ${this.#name(f)}  ${formatBytes(f.bytes)}${of}${pct}  ${formatBytes(f.bytesPerSecond)}/s`
  }

  #totalLine(): string {
    const active = this.#files.filter((f) => f.state === 'active')
    const done = this.#files.filter((f) => f.state === 'landed').length
    const failed = this.#files.filter((f) => f.state === 'failed').length
    const bytes = this.#bytesDone + active.reduce((sum, f) => sum + f.bytes, 0)
    const speed = active.reduce((sum, f) => sum + f.bytesPerSecond, 0)
    return `${done}/${this.#files.length} files${failed > 0 ? `, ${failed} failed` : ''}, ${active.length} active  ${formatBytes(bytes)}  ${formatBytes(speed)}/s`
  }

  /** Erases the live block so that a message can be printed above it. */
  #clear(): void {
    if (this.#drawn === 0) return
    this.#io.stderr.write(`\x1b[${this.#drawn}F\x1b[J`)
    this.#drawn = 0
  }

  #say(text: string): void {
    this.#clear()
    this.#io.stderr.write(`${text}\n`)
  }
}
