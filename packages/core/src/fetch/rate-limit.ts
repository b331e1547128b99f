import { DEFAULT_RATE_BURST_MS } from '../defaults.js'
import { HaulError } from '../errors.js'
import type { DownloadOptions } from '../options.js'
import type { ReadRequest, ReadResponse, Source } from '../source.js'
import { sleep } from './retry.js'

/** Options for a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Bytes that may pass at once after an idle moment, and the largest piece a body is cut into.
   * @default the bytes of {@link DEFAULT_RATE_BURST_MS} at the rate (at least 1)
   */
  burstBytes?: number
  /** A limiter every byte must pass as well, e.g. one cap over a whole batch of downloads. */
  within?: RateLimiter
}

/**
 * A token bucket: bytes pass at `bytesPerSecond` on average, with a burst of at most
 * `burstBytes`. It may be shared by any number of reads (the connections of one download, or
 * the downloads of a batch); the debt a read leaves makes the next reads wait, so together they
 * never pass more than the rate plus one burst.
 */
export class RateLimiter {
  readonly bytesPerSecond: number
  readonly burstBytes: number
  readonly #within: RateLimiter | undefined
  #tokens: number
  #at = performance.now()

  constructor(bytesPerSecond: number, options: RateLimiterOptions = {}) {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) throw new HaulError('HAUL_USAGE', `A rate limit must be a positive number of bytes per second, got ${String(bytesPerSecond)}.`)
    this.bytesPerSecond = bytesPerSecond
    this.burstBytes = Math.max(1, Math.floor(options.burstBytes ?? (bytesPerSecond * DEFAULT_RATE_BURST_MS) / 1000))
    this.#within = options.within
    this.#tokens = this.burstBytes
  }

  /** Resolves when `bytes` may pass (at once when the bucket holds them); rejects when `signal` aborts. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now()
    this.#tokens = Math.min(this.burstBytes, this.#tokens + ((now - this.#at) * this.bytesPerSecond) / 1000) - bytes
    this.#at = now
    if (this.#tokens < 0) {
      try {
        await sleep((-this.#tokens * 1000) / this.bytesPerSecond, signal)
      } catch (err) {
        this.#tokens += bytes // these bytes never passed
        throw err
      }
    }
    await this.#within?.take(bytes, signal)
  }

  /** `body`, cut into pieces of at most one burst, each let through when the bucket allows. */
  async *pace(body: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      for (let from = 0; from < chunk.length; from += this.burstBytes) {
        const piece = chunk.length <= this.burstBytes ? chunk : chunk.subarray(from, from + this.burstBytes)
        await this.take(piece.length, signal)
        yield piece
      }
    }
  }
}

/** `source` with every body paced by `limiter`. Closing stays with whoever closes `source`. */
function limitedSource(source: Source, limiter: RateLimiter): Source {
  return {
    id: source.id,
    label: source.label,
    async read(request: ReadRequest): Promise<ReadResponse> {
      const response = await source.read(request)
      return { ...response, body: limiter.pace(response.body, request.signal) }
    },
    ...(source.probe === undefined ? {} : { probe: (signal: AbortSignal) => source.probe!(signal) }),
  }
}

/**
 * The sources and options of a download with `options.rateLimit` applied: every source's body
 * paced by one limiter (a number makes a new one for this download). A capped download is slow
 * on purpose, so the low-speed stall check is off unless the caller set it; a connection that
 * sends nothing is still caught by the stall timeout.
 */
export function withRateLimit<O extends Pick<DownloadOptions, 'rateLimit' | 'lowSpeedBytesPerSecond'>>(sources: ReadonlyArray<Source>, options: O): [ReadonlyArray<Source>, O] {
  if (options.rateLimit === undefined) return [sources, options]
  const limiter = typeof options.rateLimit === 'number' ? new RateLimiter(options.rateLimit) : options.rateLimit
  return [sources.map((s) => limitedSource(s, limiter)), { ...options, lowSpeedBytesPerSecond: options.lowSpeedBytesPerSecond ?? 0 }]
}
