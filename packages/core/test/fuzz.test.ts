// Property tests (fast-check, bounded to a few seconds) for the parsers of outside bytes in core:
// the journal read back after a crash, and the digest strings (hex, SRI, checksum, multihash).
import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseChecksum, parseExpectedDigests, parseIntegrity, parseMultihash } from '../src/verify/digest.js'
import { HaulError } from '../src/errors.js'
import { decodeJournal, type JournalRecord } from '../src/stage/journal.js'

const RUNS = { numRuns: 400 }

/** A journal line as JournalWriter writes it. */
const line = (r: JournalRecord): string => {
  const json = JSON.stringify(r)
  return `${json}\t${crc32(json).toString(16).padStart(8, '0')}\n`
}

const head = fc.record({
  t: fc.constant('head' as const),
  v: fc.constant(2),
  source: fc.string(),
  expected: fc.string(),
  validators: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  created: fc.constant('2026-01-01T00:00:00.000Z'),
  boot: fc.string({ maxLength: 36 }),
})
const data = fc.tuple(fc.nat({ max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 24 })).map(([s, n]) => ({ t: 'data' as const, s, e: s + n }))
const info = fc.record({ t: fc.constant('info' as const), label: fc.string({ maxLength: 20 }), validator: fc.string({ maxLength: 20 }) })
const sync = fc.record({ t: fc.constant('sync' as const), n: fc.nat({ max: 12 }) })
const boot = fc.record({ t: fc.constant('boot' as const), id: fc.string({ maxLength: 36 }) })
const journal = fc.tuple(head, fc.array(fc.oneof(data, info, sync, boot), { maxLength: 12 })).map(([h, rest]) => [h, ...rest] as JournalRecord[])

describe('decodeJournal (fuzz)', () => {
  it('never throws on arbitrary text, and trusts a record only under a valid checksum after a head', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), journal.map((rs) => rs.map(line).join(''))), (text) => {
        const records = decodeJournal(text)
        if (records.length > 0) expect(records[0]!.t).toBe('head')
      }),
      RUNS,
    )
  })

  it('round-trips what JournalWriter writes', () => {
    fc.assert(
      fc.property(journal, (records) => {
        expect(decodeJournal(records.map(line).join(''))).toEqual(records)
      }),
      RUNS,
    )
  })

  it('a torn journal (cut anywhere) yields a prefix of the records, never a half record', () => {
    fc.assert(
      fc.property(journal, fc.nat(), (records, cutAt) => {
        const text = records.map(line).join('')
        const decoded = decodeJournal(text.slice(0, cutAt % (text.length + 1)))
        expect(records.slice(0, decoded.length)).toEqual(decoded)
      }),
      RUNS,
    )
  })

  it('a corrupted character ends the journal there: what is returned is a prefix of what was written', () => {
    fc.assert(
      fc.property(journal, fc.nat(), fc.integer({ min: 1, max: 0xffff }), (records, at, delta) => {
        const text = records.map(line).join('')
        const i = at % text.length
        const bad = text.slice(0, i) + String.fromCharCode((text.charCodeAt(i) + delta) % 0x10000) + text.slice(i + 1)
        const decoded = decodeJournal(bad)
        expect(records.slice(0, decoded.length)).toEqual(decoded)
      }),
      RUNS,
    )
  })
})

/** Calls `parse` and says whether it returned, or threw the documented HAUL_USAGE error. */
function usageOrValue<T>(parse: () => T): T | 'usage' {
  try {
    return parse()
  } catch (err) {
    expect(err).toBeInstanceOf(HaulError)
    expect((err as HaulError).code).toBe('HAUL_USAGE')
    return 'usage'
  }
}

describe('digest parsers (fuzz)', () => {
  it('arbitrary SRI, checksum, multihash and hex strings return a digest or throw HAUL_USAGE, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        usageOrValue(() => parseIntegrity(s))
        usageOrValue(() => parseChecksum(s))
        usageOrValue(() => parseMultihash(s))
        usageOrValue(() => parseExpectedDigests({ sha256: s }))
        usageOrValue(() => parseExpectedDigests({ sha512: s }))
      }),
      { numRuns: 2000 },
    )
  })

  it('SRI built from a real digest round-trips to its hex, with options and several candidates', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('sha256', 'sha384', 'sha512'), fc.string({ maxLength: 5 }).filter((o) => !/\s/.test(o)), (bytes, alg, opt) => {
        const digest = createHash(alg).update(bytes).digest()
        const other = createHash(alg).update(Buffer.concat([bytes, Buffer.from([1])])).digest()
        const sri = `${alg}-${digest.toString('base64')}${opt === '' ? '' : `?${opt}`} ${alg}-${other.toString('base64')}`
        const parsed = usageOrValue(() => parseIntegrity(sri))
        if (parsed === 'usage') return // an option with characters SRI does not allow
        expect(parsed.algorithm).toBe(alg)
        expect(parsed.candidates).toContain(digest.toString('hex'))
      }),
      RUNS,
    )
  })

  it('a checksum ALGO:HEX round-trips, in either case', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('md5', 'sha1', 'sha256', 'sha512'), fc.boolean(), (bytes, alg, upper) => {
        const hex = createHash(alg).update(bytes).digest('hex')
        const parsed = parseChecksum(`${alg}:${upper ? hex.toUpperCase() : hex}`)
        expect(parsed.candidates).toEqual([hex])
      }),
      RUNS,
    )
  })
})
