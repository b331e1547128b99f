import fc from 'fast-check'
import { testBytes } from '@haul/testkit'
import { describe, expect, it } from 'vitest'
import { ChunkedDecoder, ChunkedFramingError, MAX_LINE_BYTES } from '../src/chunked-decoder.js'

/** Feeds `wire` to a decoder in reads of the given sizes, each landing after what was kept, as the socket path does. */
function decodeInReads(wire: Buffer, reads: number[]): { body: Buffer; decoder: ChunkedDecoder } {
  const decoder = new ChunkedDecoder()
  const buffer = Buffer.alloc(wire.length + 1)
  let fill = 0
  let at = 0
  for (let i = 0; at < wire.length; i++) {
    const n = Math.min(wire.length - at, reads.length === 0 ? wire.length : Math.max(1, reads[i % reads.length]!))
    wire.copy(buffer, fill, at, at + n)
    fill += decoder.decode(buffer, fill, fill + n)
    at += n
    if (decoder.error !== undefined) throw decoder.error
  }
  return { body: buffer.subarray(0, fill), decoder }
}

/** A chunked encoding of `body` cut at `cuts`, with extensions and trailers given. */
function encode(body: Buffer, sizes: number[], options: { extension?: string; hexCase?: 'upper' | 'lower'; zeros?: number; trailers?: string[] } = {}): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (let i = 0; at < body.length; i++) {
    const n = Math.min(body.length - at, Math.max(1, sizes.length === 0 ? body.length : sizes[i % sizes.length]!))
    let hex = n.toString(16)
    if (options.hexCase === 'upper') hex = hex.toUpperCase()
    parts.push(Buffer.from(`${'0'.repeat(options.zeros ?? 0)}${hex}${options.extension ?? ''}\r\n`, 'latin1'), body.subarray(at, at + n), Buffer.from('\r\n'))
    at += n
  }
  parts.push(Buffer.from(`0${options.extension ?? ''}\r\n${(options.trailers ?? []).map((t) => `${t}\r\n`).join('')}\r\n`, 'latin1'))
  return Buffer.concat(parts)
}

const decodeAll = (text: string): Buffer => decodeInReads(Buffer.from(text, 'latin1'), []).body

describe('ChunkedDecoder', () => {
  it('strips the framing of a body split into chunks, in place', () => {
    const { body, decoder } = decodeInReads(Buffer.from('3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n'), [])
    expect(body.toString()).toBe('abc0123456789')
    expect(decoder.done).toBe(true)
    expect(decoder.overrun).toBe(0)
  })

  it('reads and drops chunk extensions and trailer fields', () => {
    expect(decodeAll('3;name=value\r\nabc\r\n2 ; a="b c" ;d\r\nde\r\n0;last\r\nx-checksum: 1\r\nx-more: 2\r\n\r\n').toString()).toBe('abcde')
  })

  it('keeps the data before broken framing, and says what broke', () => {
    const decoder = new ChunkedDecoder()
    const buffer = Buffer.from('3\r\nabc\r\n2\r\ndef\r\n')
    expect(buffer.subarray(0, decoder.decode(buffer, 0, buffer.length)).toString()).toBe('abcde')
    expect(decoder.error?.message).toMatch(/longer than its size/)
    expect(decoder.decode(buffer, 0, buffer.length)).toBe(0)
  })

  it('counts bytes after the end as an overrun', () => {
    const { body, decoder } = decodeInReads(Buffer.from('1\r\na\r\n0\r\n\r\nHTTP/1.1'), [])
    expect(body.toString()).toBe('a')
    expect(decoder.done).toBe(true)
    expect(decoder.overrun).toBe(8)
  })

  it('is not done before the blank line that ends the trailer section', () => {
    const { decoder } = decodeInReads(Buffer.from('1\r\na\r\n0\r\nx: 1\r\n'), [])
    expect(decoder.done).toBe(false)
  })

  it.each([
    ['a size that is not hex', 'g\r\n'],
    ['an empty size', '\r\n'],
    ['a sign before the size', '-1\r\n'],
    ['text after the size', '3 x\r\nabc\r\n'],
    ['a bare LF after the size', '3\nabc\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n'],
    ['data without its CRLF', '3\r\nabc\n0\r\n\r\n'],
    ['a control character in an extension', '3;a\x01\r\nabc\r\n'],
    ['a control character in a trailer', '0\r\nx: \x00\r\n\r\n'],
    ['a bare LF in the trailer section', '0\r\nx: 1\n\r\n'],
    ['a last line without its LF', '0\r\n\rx'],
    ['a size over 2^52', `${'f'.repeat(14)}\r\n`],
    ['a size line over the limit', `1;${'a'.repeat(MAX_LINE_BYTES)}\r\n`],
    ['a trailer section over the limit', `0\r\n${'x: 1\r\n'.repeat(MAX_LINE_BYTES / 4)}\r\n`],
  ])('throws on %s', (_what, text) => {
    expect(() => decodeAll(text)).toThrow(ChunkedFramingError)
  })

  it('accepts leading zeros and upper-case hex', () => {
    expect(decodeAll('000A\r\n0123456789\r\n00\r\n\r\n').toString()).toBe('0123456789')
  })

  it('decodes any body, however it is chunked and however the reads fall (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer(),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 6 }),
        fc.constantFrom('', ';a', ';a=b', ' ;name="quoted; value"', '\t;x=1;y'),
        fc.constantFrom('upper', 'lower' as const),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.stringMatching(/^x-[a-z]{1,8}: [\x20-\x7e]{0,20}$/), { maxLength: 3 }),
        fc.integer({ min: 0, max: 20 }),
        (size, seed, sizes, reads, extension, hexCase, zeros, trailers, after) => {
          const body = testBytes(size, seed)
          const wire = Buffer.concat([encode(body, sizes, { extension, hexCase, zeros, trailers }), Buffer.alloc(after, 0x41)])
          const { body: decoded, decoder } = decodeInReads(wire, reads)
          expect(decoder.done).toBe(true)
          expect(decoder.overrun).toBe(after)
          expect(decoded.equals(body)).toBe(true)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('on any bytes, either throws its own error or keeps no more than it was given (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 4 }), (bytes, reads) => {
        try {
          const { body } = decodeInReads(Buffer.from(bytes), reads)
          expect(body.length).toBeLessThanOrEqual(bytes.length)
        } catch (err) {
          expect(err).toBeInstanceOf(ChunkedFramingError)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('on a valid wire with one byte changed, fails or decodes a body of the same length; a changed data byte changes only that byte (fuzz)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer(), fc.integer({ min: 1, max: 3000 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (size, seed, chunk, where, value) => {
        const body = testBytes(size, seed)
        const wire = encode(body, [chunk])
        const at = where % wire.length
        // The body byte at wire offset `at`, if it is one: every chunk's data follows its size line.
        let dataIndex: number | undefined
        for (let from = 0, pos = 0; from < size; from += chunk) {
          const n = Math.min(chunk, size - from)
          pos += n.toString(16).length + 2
          if (at >= pos && at < pos + n) dataIndex = from + at - pos
          pos += n + 2
        }
        const changed = Buffer.from(wire)
        changed[at] = value
        let decoded: Buffer | undefined
        try {
          const result = decodeInReads(changed, [])
          if (result.decoder.done) decoded = result.body
        } catch (err) {
          expect(err).toBeInstanceOf(ChunkedFramingError)
        }
        if (dataIndex !== undefined) {
          const expected = Buffer.from(body)
          expected[dataIndex] = value
          expect(decoded?.equals(expected)).toBe(true)
        } else if (decoded !== undefined && wire[at] !== value) {
          // A framing byte changed and the body still parsed (a hex digit of the same value, say 'a' → 'A').
          expect(decoded.length).toBe(body.length)
        }
      }),
      { numRuns: 300 },
    )
  })
})
