import { HaulError } from '../errors.js'
import type { DigestOptions } from '../options.js'

/** Hash algorithms haul can verify. */
export type DigestAlgorithm =
  | 'md5'
  | 'sha1'
  | 'sha256'
  | 'sha384'
  | 'sha512'
  | 'sha3-256'
  | 'sha3-512'
  | 'blake2b-256'
  | 'blake2b-512'
  | 'blake3'

/** Digest length in bytes per algorithm. */
export const DIGEST_BYTES: Readonly<Record<DigestAlgorithm, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha384: 48,
  sha512: 64,
  'sha3-256': 32,
  'sha3-512': 64,
  'blake2b-256': 32,
  'blake2b-512': 64,
  blake3: 32,
}

/** Multihash function codes for the algorithms above (multicodec table). */
const MULTIHASH_CODES: ReadonlyMap<number, DigestAlgorithm> = new Map([
  [0xd5, 'md5'],
  [0x11, 'sha1'],
  [0x12, 'sha256'],
  [0x20, 'sha384'],
  [0x13, 'sha512'],
  [0x16, 'sha3-256'],
  [0x14, 'sha3-512'],
  [0xb220, 'blake2b-256'],
  [0xb240, 'blake2b-512'],
  [0x1e, 'blake3'],
])

/** SRI allows these, strongest last. */
const SRI_STRENGTH: ReadonlyArray<DigestAlgorithm> = ['sha256', 'sha384', 'sha512']

/**
 * One expectation: the file's digest under `algorithm` must equal one of `candidates` (several
 * only for SRI, where any digest of the strongest listed algorithm may match).
 */
export interface ExpectedDigest {
  algorithm: DigestAlgorithm
  /** Lowercase hex. */
  candidates: string[]
  /** How the caller spelled it, for messages. */
  given: string
}

function isAlgorithm(name: string): name is DigestAlgorithm {
  return Object.hasOwn(DIGEST_BYTES, name)
}

function normaliseAlgorithm(name: string): DigestAlgorithm | undefined {
  const n = name.toLowerCase().replace(/^sha-/, 'sha').replace(/^sha2-/, 'sha')
  return isAlgorithm(n) ? n : undefined
}

function usage(message: string): HaulError {
  return new HaulError('HAUL_USAGE', message)
}

function hexDigest(algorithm: DigestAlgorithm, hex: string, given: string): ExpectedDigest {
  const clean = hex.trim().toLowerCase()
  const want = DIGEST_BYTES[algorithm] * 2
  if (!/^[0-9a-f]+$/.test(clean) || clean.length !== want) {
    throw usage(`Malformed ${algorithm} digest "${given}": expected ${want} hex characters.`)
  }
  return { algorithm, candidates: [clean], given }
}

/** Parses an SRI string ("sha256-… sha512-…"); the strongest algorithm present decides. */
export function parseIntegrity(sri: string): ExpectedDigest {
  const byAlgorithm = new Map<DigestAlgorithm, string[]>()
  for (const token of sri.trim().split(/\s+/)) {
    if (token === '') continue
    const m = /^(sha256|sha384|sha512)-([A-Za-z0-9+/_-]+={0,2})(\?.*)?$/.exec(token)
    if (m === null) throw usage(`Malformed integrity "${token}": expected sha256-, sha384- or sha512- followed by base64.`)
    const algorithm = m[1] as DigestAlgorithm
    const bytes = Buffer.from(m[2]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (bytes.length !== DIGEST_BYTES[algorithm]) {
      throw usage(`Malformed integrity "${token}": ${algorithm} needs ${DIGEST_BYTES[algorithm]} bytes, got ${bytes.length}.`)
    }
    const list = byAlgorithm.get(algorithm) ?? []
    list.push(bytes.toString('hex'))
    byAlgorithm.set(algorithm, list)
  }
  for (const algorithm of [...SRI_STRENGTH].reverse()) {
    const candidates = byAlgorithm.get(algorithm)
    if (candidates !== undefined) return { algorithm, candidates, given: sri.trim() }
  }
  throw usage('Empty integrity string: expected e.g. "sha256-<base64>".')
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

function decodeBase58(text: string): Uint8Array | undefined {
  let value = 0n
  for (const ch of text) {
    const digit = BASE58.indexOf(ch)
    if (digit < 0) return undefined
    value = value * 58n + BigInt(digit)
  }
  const hex = value === 0n ? '' : value.toString(16)
  const body = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex')
  let zeros = 0
  while (text[zeros] === '1') zeros++
  return Buffer.concat([Buffer.alloc(zeros), body])
}

function readVarint(bytes: Uint8Array, at: number): [number, number] | undefined {
  let value = 0
  for (let i = 0; i < 4; i++) {
    const b = bytes[at + i]
    if (b === undefined) return undefined
    value += (b & 0x7f) * 2 ** (7 * i)
    if ((b & 0x80) === 0) return [value, at + i + 1]
  }
  return undefined
}

/** Parses a multihash given as hex, base58btc (`Qm…`, or multibase `z…`) or multibase hex (`f…`). */
export function parseMultihash(text: string): ExpectedDigest {
  const t = text.trim()
  let bytes: Uint8Array | undefined
  if (/^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0) bytes = Buffer.from(t, 'hex')
  else if (/^f[0-9a-f]+$/.test(t) && t.length % 2 === 1) bytes = Buffer.from(t.slice(1), 'hex')
  else if (t.startsWith('z')) bytes = decodeBase58(t.slice(1))
  else bytes = decodeBase58(t)
  const code = bytes === undefined ? undefined : readVarint(bytes, 0)
  const len = bytes === undefined || code === undefined ? undefined : readVarint(bytes, code[1])
  if (bytes === undefined || code === undefined || len === undefined) throw usage(`Malformed multihash "${t}".`)
  const algorithm = MULTIHASH_CODES.get(code[0])
  if (algorithm === undefined) throw usage(`Multihash "${t}" uses hash function 0x${code[0].toString(16)}, which haul does not support.`)
  const digest = bytes.subarray(len[1])
  if (len[0] !== DIGEST_BYTES[algorithm] || digest.length !== len[0]) {
    throw usage(`Malformed multihash "${t}": its length does not match ${algorithm}.`)
  }
  return { algorithm, candidates: [Buffer.from(digest).toString('hex')], given: t }
}

/** Parses `ALGO:HEX` (also `ALGO=HEX`, as some checksum files write it). */
export function parseChecksum(text: string): ExpectedDigest {
  const m = /^([A-Za-z0-9-]+)[:=](.+)$/.exec(text.trim())
  const algorithm = m === null ? undefined : normaliseAlgorithm(m[1]!)
  if (m === null || algorithm === undefined) {
    throw usage(`Malformed checksum "${text}": expected ALGO:HEX with ALGO one of ${Object.keys(DIGEST_BYTES).join(', ')}.`)
  }
  return hexDigest(algorithm, m[2]!, text)
}

/** Every expectation the options carry; all must hold. Throws HAUL_USAGE on malformed input. */
export function parseExpectedDigests(options: DigestOptions): ExpectedDigest[] {
  const out: ExpectedDigest[] = []
  const hex: Array<[DigestAlgorithm, string | undefined]> = [
    ['sha256', options.sha256],
    ['sha512', options.sha512],
    ['sha1', options.sha1],
    ['md5', options.md5],
  ]
  for (const [algorithm, value] of hex) if (value !== undefined) out.push(hexDigest(algorithm, value, value))
  if (options.integrity !== undefined) out.push(parseIntegrity(options.integrity))
  if (options.checksum !== undefined) out.push(parseChecksum(options.checksum))
  if (options.multihash !== undefined) out.push(parseMultihash(options.multihash))
  for (const [i, a] of out.entries()) {
    const clash = out.slice(i + 1).find((b) => b.algorithm === a.algorithm && !b.candidates.some((c) => a.candidates.includes(c)))
    if (clash !== undefined) throw usage(`"${a.given}" and "${clash.given}" expect different ${a.algorithm} digests: no file can match both. Give one.`)
  }
  return out
}

/** A stable text form of the expectations, recorded in the journal so resume can tell they changed. */
export function describeExpected(expected: ReadonlyArray<ExpectedDigest>): string {
  return expected
    .map((d) => `${d.algorithm}:${[...d.candidates].sort().join('|')}`)
    .sort()
    .join(' ')
}

/** The first expectation `actual` fails, if any. */
export function findMismatch(
  expected: ReadonlyArray<ExpectedDigest>,
  actual: Readonly<Partial<Record<DigestAlgorithm, string>>>,
): { expected: ExpectedDigest; actual: string } | undefined {
  for (const e of expected) {
    const got = actual[e.algorithm]
    if (got === undefined || !e.candidates.includes(got)) return { expected: e, actual: got ?? '' }
  }
  return undefined
}
