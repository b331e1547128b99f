// Property tests (fast-check, bounded) for the parsers of response headers.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseContentDisposition } from '../src/content-disposition.js'
import { parseContentRange } from '../src/headers.js'

const RUNS = { numRuns: 1000 }
const headerText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: fc.constantFrom(...'bytes -/*0123456789 \t'), maxLength: 40 }))

describe('parseContentRange (fuzz)', () => {
  it('never throws, and what it accepts is a sane range: integers, start <= end < total', () => {
    fc.assert(
      fc.property(headerText, (value) => {
        const r = parseContentRange(value)
        if (r === undefined) return
        expect(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end)).toBe(true)
        expect(r.start).toBeLessThanOrEqual(r.end)
        if (r.total !== undefined) expect(r.end).toBeLessThan(r.total)
      }),
      RUNS,
    )
  })

  it('round-trips every well-formed range, with any spacing and case', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 50 }), fc.nat({ max: 2 ** 30 }), fc.nat({ max: 2 ** 30 }), fc.boolean(), (start, length, extra, upper) => {
        const end = start + length
        const total = end + 1 + extra
        expect(parseContentRange(` ${upper ? 'BYTES' : 'bytes'}  ${start}-${end}/${total} `)).toEqual({ start, end, total })
        expect(parseContentRange(`bytes ${start}-${end}/*`)).toEqual({ start, end })
      }),
      RUNS,
    )
  })

  it('numbers beyond 2^53 are never accepted as exact offsets', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }), (big) => {
        const r = parseContentRange(`bytes ${big}-${big + 1n}/${big + 2n}`)
        if (r !== undefined) expect(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && Number.isSafeInteger(r.total ?? 0)).toBe(true)
      }),
      RUNS,
    )
  })
})

describe('parseContentDisposition (fuzz)', () => {
  it('never throws on arbitrary header text; a type, when found, is a token', () => {
    fc.assert(
      fc.property(fc.oneof(headerText, fc.string({ unit: fc.constantFrom(...'attachment; filename*="\\\'%2F.UTF-8x'), maxLength: 60 })), (value) => {
        const cd = parseContentDisposition(value)
        if (cd !== undefined) expect(cd.type).not.toMatch(/[\s"=]/)
      }),
      RUNS,
    )
  })

  it('round-trips a quoted file name and an RFC 5987 one', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((n) => !/["\\\r\n]/.test(n)), (name) => {
        expect(parseContentDisposition(`attachment; filename*=UTF-8''${encodeURIComponent(name)}`)?.fileName).toBe(name)
        if (/^[\x20-\x7e]*$/.test(name)) expect(parseContentDisposition(`attachment; filename="${name}"`)?.fileName).toBe(name)
      }),
      RUNS,
    )
  })
})
