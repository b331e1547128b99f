/**
 * The head of an HTTP/1.x response, parsed strictly enough for the socket fast path
 * (socket-body.ts): anything this parser does not accept makes the request go through undici
 * instead, so it only has to be right, not lenient.
 */

/** A parsed response head. */
export interface ResponseHead {
  statusCode: number
  /** The minor version of HTTP/1.x: 0 or 1. */
  minor: 0 | 1
  /** Header values by lowercase name; a repeated header keeps every value, in order. */
  headers: Record<string, string | string[]>
  /** Bytes of the head, the blank line included: the body starts here. */
  length: number
}

/** Longest head accepted; undici's default (maxHeaderSize) is 16 KiB, node:http's too. */
export const MAX_HEAD_BYTES = 64 * 1024

const END = Buffer.from('\r\n\r\n')
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Field values: visible ASCII, obs-text, spaces and tabs; no other control character. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * Parses the head at the start of `data`. `incomplete`: the blank line has not arrived yet (and
 * the head is still within {@link MAX_HEAD_BYTES}); `invalid`: not a head this parser vouches for
 * (malformed, obsolete line folding, a bare LF, too long).
 */
export function parseResponseHead(data: Uint8Array): ResponseHead | 'incomplete' | 'invalid' {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const end = bytes.indexOf(END)
  if (end < 0) return bytes.length >= MAX_HEAD_BYTES ? 'invalid' : 'incomplete'
  if (end + END.length > MAX_HEAD_BYTES) return 'invalid'
  const lines = bytes.toString('latin1', 0, end).split('\r\n')
  const status = STATUS_LINE.exec(lines[0]!)
  if (status === null) return 'invalid'
  const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    if (colon <= 0) return 'invalid'
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '')
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return 'invalid'
    const key = name.toLowerCase()
    const seen = headers[key]
    headers[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]
  }
  return { statusCode: Number(status[2]), minor: status[1] === '1' ? 1 : 0, headers, length: end + END.length }
}

/** How the body of a response is delimited, as far as the fast path is concerned. */
export type BodyFraming =
  /** No body follows the head (HEAD, 204, 304). */
  | { kind: 'none' }
  /** Exactly `length` bytes follow. */
  | { kind: 'length'; length: number }
  /** The body runs until the server closes the connection. */
  | { kind: 'close' }
  /** The body is in the chunked transfer coding alone (chunked-decoder.ts); only when asked for. */
  | { kind: 'chunked' }
  /** Something the fast path does not decode (other transfer codings, a bad or repeated Content-Length, 1xx). */
  | { kind: 'other' }

/**
 * How the body of a response to `method` with `head` is framed (RFC 9112 §6.3). A chunked body
 * is `other` unless `chunked` is set; one that also has a Content-Length (a sign of request
 * smuggling, RFC 9112 §6.1) or that came with HTTP/1.0 is always `other`.
 */
export function framingOf(method: string, head: ResponseHead, chunked = false): BodyFraming {
  const { statusCode, headers } = head
  if (statusCode < 200) return { kind: 'other' }
  if (method === 'HEAD' || statusCode === 204 || statusCode === 304) return { kind: 'none' }
  const length = headers['content-length']
  const coding = headers['transfer-encoding']
  if (coding !== undefined) {
    const chunkedAlone = typeof coding === 'string' && /^chunked$/i.test(coding) && length === undefined && head.minor === 1
    return chunked && chunkedAlone ? { kind: 'chunked' } : { kind: 'other' }
  }
  if (length === undefined) return { kind: 'close' }
  // A repeated Content-Length is tolerated only when every copy says the same (RFC 9110 §8.6).
  const values = (Array.isArray(length) ? length : [length]).flatMap((v) => v.split(',').map((s) => s.trim()))
  const first = values[0]!
  if (!/^\d{1,15}$/.test(first) || values.some((v) => v !== first)) return { kind: 'other' }
  return { kind: 'length', length: Number(first) }
}
