/**
 * The head of a plain `HTTP/1.1 200` response with a Content-Length, gathered across socket
 * reads: what the socket floors (node-socket-floor.ts, node-verified-floor.ts) parse before they
 * move body bytes, and nothing more.
 */
export class FloorHead {
  readonly #href: string
  #head: Buffer | undefined = Buffer.alloc(0)

  constructor(href: string) {
    this.#href = href
  }

  /** Whether the whole head has been read. */
  get done(): boolean {
    return this.#head === undefined
  }

  /**
   * Takes one read of the head: undefined while the head is incomplete; then the body's length
   * and the body bytes that came with the head (a copy, valid after the read's buffer is reused).
   * @throws for a status other than 200 or a response without Content-Length
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
    const length = /\r\ncontent-length: *(\d+)/i.exec(text)
    if (length === null) throw new Error(`${this.#href} sent no Content-Length`)
    this.#head = undefined
    return { length: Number(length[1]), body: head.subarray(end + 4) }
  }
}
