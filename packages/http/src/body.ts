import { HaulError } from '@haul/core'
import { toHaulError } from './errors.js'

/** A response body: undici's, or the socket fast path's (socket-body.ts); what drivers use of it. */
export interface ResponseBody extends AsyncIterable<Uint8Array> {
  /** Reads and drops a rest of at most `limit` bytes (so the connection is reused); a longer one is cut off. */
  dump(options: { limit: number }): Promise<unknown>
  destroy(error?: Error): unknown
}

/** Where a body came from, for its errors. */
export interface BodyOrigin {
  /** The URL that answered. */
  url: URL
  /** The `source` fact of errors. @default the URL */
  source?: string
  /** Aborts the read; its reason becomes the error. */
  signal: AbortSignal
}

/**
 * A response body as drivers consume it: HaulErrors instead of undici errors, a body that ends
 * short of `expected` bytes fails (transient) instead of looking complete, and an early
 * `return()` (a `break` in for-await) destroys the stream so the connection is released.
 * Single use, like the stream under it.
 */
export function bodyChunks(body: ResponseBody, from: BodyOrigin, expected?: number): AsyncIterableIterator<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]()
  let received = 0
  return {
    [Symbol.asyncIterator]() {
      return this
    },
    async next(): Promise<IteratorResult<Uint8Array>> {
      let step: IteratorResult<Uint8Array>
      try {
        step = await chunks.next()
      } catch (err) {
        throw toHaulError(err, from.url.href, from.signal, from.source)
      }
      if (!step.done) {
        received += step.value.length
        return step
      }
      if (expected !== undefined && received < expected) {
        throw new HaulError('HAUL_SOURCE', `${from.url.href} ended the body after ${received} of ${expected} bytes.`, { source: from.source ?? from.url.href, transient: true })
      }
      return step
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      body.destroy()
      return { done: true, value: undefined }
    },
  }
}

/** Releases a body we don't want, reusing the connection when the rest is short. Never throws. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    await body.dump({ limit: 64 * 1024 })
  } catch {
    body.destroy()
  }
}
