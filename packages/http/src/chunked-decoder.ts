/**
 * The chunked transfer coding (RFC 9112 §7.1) decoded in place, for the socket fast path
 * (socket-body.ts): reads land in a buffer, and the decoder moves the data bytes of what landed
 * down over the framing, so the body lies contiguous in the buffer and the consumer gets large
 * chunks with no copy beyond one `copyWithin`. A chunked response comes on the fast path only
 * when the request asks for it (a trustless gateway's CAR is chunked, and the fast path is what
 * makes it quick); it cannot fall back to undici once bytes are handed out, so it accepts the
 * whole grammar — chunk extensions and trailer fields are read and dropped, as RFC 9112 allows —
 * and anything else fails the body: a size that is not hex or does not fit, a missing CRLF, a bare
 * LF, a control character in an extension or trailer, or framing lines longer than
 * {@link MAX_LINE_BYTES}.
 */

/** Longest chunk-size line (size plus extensions) and longest trailer section accepted. */
export const MAX_LINE_BYTES = 16 * 1024
/** A chunk size has at most this many hex digits (leading zeros included): 2^52 bytes. */
const MAX_SIZE_DIGITS = 13

const CR = 0x0d
const LF = 0x0a

/** Where the decoder stands in the framing. */
const enum State {
  /** The first hex digit of a chunk size. */
  SizeStart,
  /** More hex digits, or what ends the size. */
  Size,
  /** Whitespace after the size: only an extension may follow. */
  SizeSpace,
  /** A chunk extension, up to CR. */
  Extension,
  /** The LF of the chunk-size line. */
  SizeLf,
  /** Chunk data. */
  Data,
  /** The CR after chunk data. */
  DataCr,
  /** The LF after chunk data. */
  DataLf,
  /** The start of a trailer line (CR: the end of the body). */
  TrailerStart,
  /** A trailer field, up to CR. */
  Trailer,
  /** The LF of a trailer line. */
  TrailerLf,
  /** The LF of the blank line that ends the body. */
  EndLf,
  /** The body is whole. */
  Done,
}

/** The chunked framing is broken: the body cannot be trusted past what was decoded. */
export class ChunkedFramingError extends Error {
  readonly code = 'UND_ERR_SOCKET'
  constructor(what: string) {
    super(`the chunked body is malformed: ${what}`)
    this.name = 'ChunkedFramingError'
  }
}

/** Byte allowed in an extension or a trailer field: HTAB, SP, visible ASCII, obs-text. */
function isFieldByte(b: number): boolean {
  return b === 0x09 || (b >= 0x20 && b !== 0x7f)
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30
  const lower = b | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/** Decodes one chunked body, read by read. */
export class ChunkedDecoder {
  #state = State.SizeStart
  /** The chunk size being read, then the data bytes of the chunk still to come. */
  #size = 0
  #digits = 0
  /** Bytes of the current chunk-size line, or of the trailer section. */
  #lineBytes = 0
  /** Bytes that came after the end of the body. */
  #overrun = 0
  #error: ChunkedFramingError | undefined

  /** Whether the body is whole (its last chunk and trailer section arrived). */
  get done(): boolean {
    return this.#state === State.Done
  }

  /** Bytes seen after the end of the body: the connection is out of step and must not be reused. */
  get overrun(): number {
    return this.#overrun
  }

  /** How the framing broke, once it did: nothing after it is body. */
  get error(): ChunkedFramingError | undefined {
    return this.#error
  }

  /**
   * Decodes `buffer[start, end)`, which just landed: its data bytes move to `buffer[start, start +
   * n)`, and `n` is returned. When the framing breaks, `n` counts the data before the break
   * (framed correctly, so as good as bytes before a connection's end) and {@link error} says why.
   */
  decode(buffer: Uint8Array, start: number, end: number): number {
    if (this.#error !== undefined) return 0
    let write = start
    for (let read = start; read < end; ) {
      if (this.#state === State.Data) {
        const n = Math.min(this.#size, end - read)
        if (write !== read) buffer.copyWithin(write, read, read + n)
        write += n
        read += n
        this.#size -= n
        if (this.#size === 0) this.#state = State.DataCr
        continue
      }
      if (this.#state === State.Done) {
        this.#overrun += end - read
        break
      }
      const broken = this.#step(buffer[read]!)
      if (broken !== undefined) {
        this.#error = new ChunkedFramingError(broken)
        break
      }
      read++
    }
    return write - start
  }

  /** One framing byte; what is wrong with it, if something is. */
  #step(b: number): string | undefined {
    switch (this.#state) {
      case State.SizeStart:
      case State.Size: {
        const digit = hexValue(b)
        if (digit >= 0) {
          if (++this.#digits > MAX_SIZE_DIGITS) return 'a chunk size too large'
          this.#size = this.#size * 16 + digit
          this.#state = State.Size
        } else if (this.#state === State.SizeStart) return 'a chunk size that is not hex'
        else if (b === CR) this.#state = State.SizeLf
        else if (b === 0x3b) this.#state = State.Extension
        else if (b === 0x20 || b === 0x09) this.#state = State.SizeSpace
        else return 'a chunk size that is not hex'
        break
      }
      case State.SizeSpace:
        if (b === 0x3b) this.#state = State.Extension
        else if (b !== 0x20 && b !== 0x09) return 'text after a chunk size'
        break
      case State.Extension:
        if (b === CR) this.#state = State.SizeLf
        else if (!isFieldByte(b)) return 'a control character in a chunk extension'
        break
      case State.SizeLf:
        if (b !== LF) return 'a chunk-size line without CRLF'
        this.#state = this.#size === 0 ? State.TrailerStart : State.Data
        this.#digits = 0
        this.#lineBytes = 0
        return undefined
      case State.DataCr:
        if (b !== CR) return 'chunk data longer than its size'
        this.#state = State.DataLf
        return undefined
      case State.DataLf:
        if (b !== LF) return 'chunk data without CRLF'
        this.#state = State.SizeStart
        return undefined
      case State.TrailerStart:
        if (b === CR) this.#state = State.EndLf
        else if (isFieldByte(b)) this.#state = State.Trailer
        else return 'a control character in a trailer'
        break
      case State.Trailer:
        if (b === CR) this.#state = State.TrailerLf
        else if (!isFieldByte(b)) return 'a control character in a trailer'
        break
      case State.TrailerLf:
        if (b !== LF) return 'a trailer line without CRLF'
        this.#state = State.TrailerStart
        break
      case State.EndLf:
        if (b !== LF) return 'a last line without CRLF'
        this.#state = State.Done
        return undefined
      default:
        return 'framing after the end'
    }
    // Size lines and the trailer section are bounded: a server cannot make us read framing forever.
    return ++this.#lineBytes > MAX_LINE_BYTES ? `framing lines over ${MAX_LINE_BYTES} bytes` : undefined
  }
}
