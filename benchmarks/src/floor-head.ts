/**
 * The head of a plain `HTTP/1.1 200` response, gathered across socket reads: what the socket
 * floors (node-socket-floor.ts, node-verified-floor.ts, node-car-socket-floor.ts) parse before
 * they move body bytes, and nothing more. The body is framed by a Content-Length, or (`chunked`)
 * in the chunked transfer coding, which the caller then strips itself.
 */
export class FloorHead {
  readonly #href: string
  readonly #framing: 'length' | 'chunked'
  #head: Buffer | undefined = Buffer.alloc(0)

  constructor(href: string, framing: 'length' | 'chunked' = 'length') {
    this.#href = href
    this.#framing = framing
  }

  /** Whether the whole head has been read. */
  get done(): boolean {
    return this.#head === undefined
  }

  /**
   * Takes one read of the head: undefined while the head is incomplete; then the body's length
   * (infinite for a chunked body: its framing says where it ends) and the body bytes that came
   * with the head (a copy, valid after the read's buffer is reused).
   * @throws for a status other than 200, or a response not framed as the constructor was told
   */
  take(bytes: Uint8Array): { length: number; body: Buffer } | undefined {
    const head = Buffer.concat([this.#head!, bytes])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) {
      this.#head = head
      return undefined
    }
    const text = head.toString('latin1', 0, end)
    if (!text.startsWith('HTTP/1.1 200')) throw new Error(`${this.#href} answered ${text.split('\r\n')[0]}`)
    if (this.#framing === 'chunked') {
      if (!/\r\ntransfer-encoding: *chunked/i.test(text)) throw new Error(`${this.#href} did not answer chunked`)
      this.#head = undefined
      return { length: Number.POSITIVE_INFINITY, body: head.subarray(end + 4) }
    }
    const length = /\r\ncontent-length: *(\d+)/i.exec(text)
    if (length === null) throw new Error(`${this.#href} sent no Content-Length`)
    this.#head = undefined
    return { length: Number(length[1]), body: head.subarray(end + 4) }
  }
}
