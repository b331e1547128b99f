import type { HaulEvent } from '../events.js'

/** A progress event at least this often while a transfer runs, so speed decays visibly in a stall. */
const HEARTBEAT_MS = 1000

/**
 * Emits `progress` events whose `bytes` never decrease, with a speed smoothed over 5 s.
 * Updates are cheap and frequent; a ticker emits the latest state every interval (and at least
 * once a second while running), so a throttled last update is never lost.
 */
export class ProgressReporter {
  readonly #emit: (e: HaulEvent) => void
  readonly #intervalMs: number
  #timer: NodeJS.Timeout | undefined
  #bytes = 0
  #connections = 0
  #lastEmit = 0
  #lastEmittedBytes = -1
  #samples: Array<[number, number]> = []
  total: number | undefined

  constructor(emit: (e: HaulEvent) => void, intervalMs: number, total: number | undefined) {
    this.#emit = emit
    this.#intervalMs = intervalMs
    this.total = total
  }

  /** Starts the ticker. */
  start(): void {
    this.#timer ??= setInterval(() => this.#tick(false), this.#intervalMs)
    this.#timer.unref()
  }

  /** Stops the ticker and emits the final state. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#tick(true)
  }

  /** Records `bytes` done over `connections`; the ticker reports it. */
  update(bytes: number, connections: number): void {
    this.#bytes = bytes
    this.#connections = connections
  }

  #tick(force: boolean): void {
    const now = Date.now()
    const bytes = this.#bytes
    this.#samples.push([now, bytes])
    while (this.#samples.length > 2 && now - this.#samples[0]![0] > 5000) this.#samples.shift()
    if (bytes < this.#lastEmittedBytes) return // a restart from 0: quiet until we pass the old mark
    if (!force && bytes === this.#lastEmittedBytes && now - this.#lastEmit < HEARTBEAT_MS) return
    const [t0, b0] = this.#samples[0]!
    const bytesPerSecond = now > t0 ? Math.max(0, Math.round(((bytes - b0) * 1000) / (now - t0))) : 0
    this.#lastEmittedBytes = bytes
    this.#lastEmit = now
    this.#emit({ event: 'progress', bytes, ...(this.total === undefined ? {} : { total: this.total }), bytesPerSecond, connections: this.#connections })
  }
}
