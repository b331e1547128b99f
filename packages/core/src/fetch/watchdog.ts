/**
 * Aborts a read that stalls: no byte for `stallMs`, or an average below `minBytesPerSecond`
 * over `windowMs` (curl's --speed-limit/--speed-time). The time before the first byte counts,
 * so a server that accepts and never answers is caught too.
 */
export class StallWatchdog {
  /** Why the read was aborted, once it was. */
  reason: string | undefined
  readonly #controller: AbortController
  readonly #timer: NodeJS.Timeout
  #lastByteAt: number
  #windowStart: number
  #windowBytes = 0

  constructor(controller: AbortController, stallMs: number, minBytesPerSecond: number, windowMs: number) {
    this.#controller = controller
    this.#lastByteAt = Date.now()
    this.#windowStart = this.#lastByteAt
    const period = Math.max(50, Math.min(1000, Math.floor(stallMs / 4), minBytesPerSecond > 0 ? Math.floor(windowMs / 4) : 1000))
    this.#timer = setInterval(() => {
      const now = Date.now()
      if (now - this.#lastByteAt >= stallMs) {
        this.#fire(`stalled: no data for ${((now - this.#lastByteAt) / 1000).toFixed(1)} s`)
      } else if (minBytesPerSecond > 0 && now - this.#windowStart >= windowMs) {
        const rate = (this.#windowBytes * 1000) / (now - this.#windowStart)
        if (rate < minBytesPerSecond) this.#fire(`too slow: ${Math.round(rate)} B/s over ${Math.round(windowMs / 1000)} s, below the minimum of ${minBytesPerSecond} B/s`)
        this.#windowStart = now
        this.#windowBytes = 0
      }
    }, period)
    this.#timer.unref()
  }

  /** Bytes arrived. */
  touch(bytes: number): void {
    this.#lastByteAt = Date.now()
    this.#windowBytes += bytes
  }

  #fire(reason: string): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.#controller.abort(new Error(reason))
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}
