import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MultiHasher } from '../src/driver.js'
import { HaulError, findMismatch, parseChecksum, parseExpectedDigests, parseIntegrity, parseMultihash } from '../src/index.js'

const hello = Buffer.from('hello')
const hex = (alg: string): string => createHash(alg).update(hello).digest('hex')
const b64 = (alg: string): string => createHash(alg).update(hello).digest('base64')

function usageError(fn: () => unknown): HaulError {
  try {
    fn()
  } catch (err) {
    return err as HaulError
  }
  throw new Error('expected a throw')
}

describe('expected digests', () => {
  it('parses hex digests of each algorithm and rejects wrong lengths or characters', () => {
    expect(parseExpectedDigests({ sha256: hex('sha256').toUpperCase() })[0]).toMatchObject({ algorithm: 'sha256', candidates: [hex('sha256')] })
    expect(parseExpectedDigests({ md5: hex('md5'), sha1: hex('sha1'), sha512: hex('sha512') })).toHaveLength(3)
    expect(usageError(() => parseExpectedDigests({ sha256: 'abc' })).code).toBe('HAUL_USAGE')
    expect(usageError(() => parseExpectedDigests({ sha256: 'g'.repeat(64) })).code).toBe('HAUL_USAGE')
  })

  it('lets the strongest SRI algorithm decide, any of its digests matching', () => {
    const sri = `sha256-${b64('sha256')} sha512-${b64('sha512')} sha512-${Buffer.alloc(64).toString('base64')}`
    const parsed = parseIntegrity(sri)
    expect(parsed.algorithm).toBe('sha512')
    expect(parsed.candidates).toHaveLength(2)
    expect(findMismatch([parsed], { sha512: hex('sha512') })).toBeUndefined()
    expect(findMismatch([parsed], { sha512: 'ff' })).toBeDefined()
    expect(usageError(() => parseIntegrity('md5-abc')).code).toBe('HAUL_USAGE')
    expect(usageError(() => parseIntegrity('sha256-AAAA')).code).toBe('HAUL_USAGE')
  })

  it('parses multihashes in hex and base58btc, naming unsupported functions', () => {
    expect(parseMultihash(`1220${hex('sha256')}`)).toMatchObject({ algorithm: 'sha256', candidates: [hex('sha256')] })
    // sha2-256 of "hello" as the CIDv0-style base58btc multihash.
    const mh = Buffer.concat([Buffer.from([0x12, 0x20]), createHash('sha256').update(hello).digest()])
    const ALPHA = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
    let n = BigInt(`0x${mh.toString('hex')}`)
    let b58 = ''
    while (n > 0n) {
      b58 = ALPHA[Number(n % 58n)]! + b58
      n /= 58n
    }
    expect(b58.startsWith('Qm')).toBe(true)
    expect(parseMultihash(b58).candidates).toEqual([hex('sha256')])
    expect(parseMultihash(`z${b58}`).candidates).toEqual([hex('sha256')])
    expect(usageError(() => parseMultihash('9920aa')).message).toMatch(/does not support|Malformed/)
    expect(usageError(() => parseMultihash(`1220${hex('sha256').slice(2)}`)).code).toBe('HAUL_USAGE')
  })

  it('parses ALGO:HEX for every supported algorithm', () => {
    expect(parseChecksum(`sha-256:${hex('sha256')}`).algorithm).toBe('sha256')
    expect(parseChecksum(`SHA512=${hex('sha512')}`).algorithm).toBe('sha512')
    expect(usageError(() => parseChecksum('crc32:abcd')).code).toBe('HAUL_USAGE')
  })

  it('computes node:crypto and hash-wasm digests in one pass', async () => {
    const hasher = await MultiHasher.create(['sha512', 'blake3', 'md5'])
    hasher.update(hello.subarray(0, 2))
    hasher.update(hello.subarray(2))
    const d = hasher.digest()
    expect(d.sha256).toBe(hex('sha256'))
    expect(d.sha512).toBe(hex('sha512'))
    expect(d.md5).toBe(hex('md5'))
    expect(d.blake3).toBe('ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f')
  })
})

describe('conflicting expectations', () => {
  it('rejects two different digests of one algorithm before any request, but allows the same one twice', () => {
    const a = hex('sha256')
    expect(usageError(() => parseExpectedDigests({ sha256: a, checksum: `sha256:${'0'.repeat(64)}` })).message).toMatch(/different sha256 digests/)
    expect(parseExpectedDigests({ sha256: a, checksum: `sha256:${a}` })).toHaveLength(2)
  })
})
