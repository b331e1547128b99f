import type { HaulEvent } from './events.js'

/** Emits throttled `progress` events whose `bytes` never decrease, with a smoothed speed. */
export class ProgressReporter {
  readonly #emit: (e: HaulEvent) => void
  readonly #intervalMs: number
  #lastEmit = 0
  #lastBytes = 0
  #samples: Array<[number, number]> = []
  total: number | undefined

  constructor(emit: (e: HaulEvent) => void, intervalMs: number, total: number | undefined) {
    this.#emit = emit
    this.#intervalMs = intervalMs
    this.total = total
  }

  /** Reports `bytes` done; emits when the interval passed (or `force`). */
  update(bytes: number, connections: number, force = false): void {
    const now = Date.now()
    if (!force && now - this.#lastEmit < this.#intervalMs) return
    this.#samples.push([now, bytes])
    while (this.#samples.length > 2 && now - this.#samples[0]![0] > 5000) this.#samples.shift()
    const [t0, b0] = this.#samples[0]!
    const bytesPerSecond = now > t0 ? Math.max(0, Math.round(((bytes - b0) * 1000) / (now - t0))) : 0
    if (bytes < this.#lastBytes) return // a restart from 0: stay quiet until we pass the old mark
    this.#lastBytes = bytes
    this.#lastEmit = now
    this.#emit({ event: 'progress', bytes, ...(this.total === undefined ? {} : { total: this.total }), bytesPerSecond, connections })
  }
}
