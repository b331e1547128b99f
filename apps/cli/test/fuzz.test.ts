// Property test (fast-check, bounded): whatever name a server suggests, the CLI's file name is a
// single safe path segment that fits beside its staging directory.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { safeFileName } from '../src/file-name.js'

/** No lone surrogate (what String#isWellFormed checks, which the ES2022 lib lacks). */
const wellFormed = (s: string): boolean => !/\p{Cs}/u.test(s)

describe('safeFileName (fuzz)', () => {
  it('cuts a long name on a code point boundary (never half a surrogate pair)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 5 }), fc.constantFrom('😀', 'é', '中', 'a'), (prefix, unit) => {
        const name = safeFileName(`${prefix}${unit.repeat(300)}`)
        expect(wellFormed(name)).toBe(true)
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(249)
      }),
      { numRuns: 300 },
    )
  })

  it('is one non-empty segment: no separator, NUL, control byte, leading dot, and at most 249 bytes', () => {
    const hostile = fc.string({ unit: fc.constantFrom('.', '/', '\\', '\u0000', '\n', '\r', '\u001b', '\u007f', '\u0085', ' ', 'a', 'é', '😀', ':', '*', '?'), maxLength: 400 })
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string({ unit: 'binary', maxLength: 600 })), (suggested) => {
        const name = safeFileName(suggested)
        expect(name.length).toBeGreaterThan(0)
        expect(name).not.toMatch(/[/\\\u0000-\u001f\u007f-\u009f]/)
        expect(name.startsWith('.')).toBe(false)
        expect(name === '..' || name === '.').toBe(false)
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(249)
        expect(wellFormed(name)).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })
})
