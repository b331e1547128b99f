import { bodyChunks } from './body.js'
import type { TransportResponse } from './transport.js'

/**
 * The largest body a first answer is kept for. A bigger file's answer only names it and is then
 * dropped (its connection closed): the download asks again with its own request, whose body lands
 * straight in the transaction's buffers, and may split it into segments.
 */
export const FIRST_ANSWER_MAX_BYTES = 16 * 1024 * 1024

/**
 * A plain GET of a whole file, sent before its destination was known so that its answer names it
 * (Content-Disposition), as aria2c and browsers do, instead of a HEAD first and a GET after. The
 * download of `url` then reads its body as the answer to its first request, and one request per
 * file is all a batch of small files costs. See {@link openNamed}.
 *
 * Single use: the first read of the main URL that asks for the whole file from byte 0 takes it;
 * any other read (a resume, a segment) drops it and sends its own. {@link close} drops a body
 * nobody took and ends the request's transport; @haul/http's `download` calls it when it ends.
 */
export class FirstAnswer {
  /** The URL asked (before redirects): only a source of this URL takes the answer. */
  readonly url: string
  /** The file name the answer's Content-Disposition gives, if any (untrusted, not made safe). */
  readonly fileName: string | undefined
  /** The answer's Content-Type, if any. Untrusted. */
  readonly contentType: string | undefined
  #response: TransportResponse | undefined
  /** The signal the GET was sent with: the reading download's aborts reach the connection through it. */
  readonly #abort: AbortController
  readonly #end: () => Promise<void>
  #closing: Promise<void> | undefined

  /** @internal Made by {@link HttpSource.openFirst}; `end` closes what the request went through. */
  constructor(url: string, response: TransportResponse | undefined, facts: { fileName?: string; contentType?: string }, abort: AbortController, end: () => Promise<void>) {
    this.url = url
    this.#response = response
    this.fileName = facts.fileName
    this.contentType = facts.contentType
    this.#abort = abort
    this.#end = end
  }

  /** Whether a body is still waiting to be read. */
  get pending(): boolean {
    return this.#response !== undefined
  }

  /**
   * @internal The answer, for a read under `signal` (which then aborts it, and whose reason its
   * errors report), or undefined once taken or dropped.
   */
  take(signal: AbortSignal): TransportResponse | undefined {
    const response = this.#response
    if (response === undefined) return undefined
    this.#response = undefined
    if (signal.aborted) this.#abort.abort(signal.reason)
    else signal.addEventListener('abort', () => this.#abort.abort(signal.reason), { once: true })
    const from = { url: response.url, signal }
    return { ...response, chunks: (expected) => bodyChunks(response.body, from, expected) }
  }

  /** Drops a body nobody took (the connection is reused when little of it is left) and ends the transport. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const response = this.#response
      this.#response = undefined
      if (response !== undefined) await response.discard()
      await this.#end()
    })()
    return this.#closing
  }
}
