import { HaulError } from '@haul/core'
import { CID } from 'multiformats/cid'

// Multicodec codes, as numbers: importing the codecs and hashers only for these would make every
// CLI start pay for loading them (this module is also the light `@haul/ipfs/input` entry).
const DAG_PB = 0x70
const RAW = 0x55
const DAG_CBOR = 0x71
const DAG_JSON = 0x0129
const IDENTITY = 0x00
const SHA2_256 = 0x12
const SHA2_512 = 0x13

/** A parsed IPFS address: a root CID and an optional path inside it. */
export interface IpfsInput {
  /** The root CID (any version, as given). */
  cid: CID
  /** Path segments inside the root, decoded; empty for the root itself. */
  path: string[]
  /** `ipfs://CID[/path]`, the canonical spelling used as the journal identity. */
  id: string
}

/** Multihash functions whose blocks can be verified. */
export const SUPPORTED_HASHES = new Set<number>([SHA2_256, SHA2_512, IDENTITY])

const CODECS = new Set<number>([DAG_PB, RAW])
/** Codecs whose nodes hold links a path can follow to UnixFS (the IPLD data model's pathing). */
export const PATH_CODECS = new Set<number>([DAG_CBOR, DAG_JSON])

function usage(input: string, why: string, cause?: unknown): HaulError {
  return new HaulError('HAUL_USAGE', `Not a usable IPFS address: ${JSON.stringify(input)} (${why}). Give ipfs://CID[/path], /ipfs/CID[/path] or a bare CID.`, cause === undefined ? {} : { cause })
}

/**
 * Parses `ipfs://CID[/path]`, `/ipfs/CID[/path]` or a bare CID (v0 or v1). Throws HAUL_USAGE for
 * anything malformed, before any request is made.
 */
export function parseIpfsInput(input: string): IpfsInput {
  const text = input.trim()
  let rest: string
  if (/^ipfs:\/\//i.test(text)) rest = text.slice('ipfs://'.length)
  else if (text.startsWith('/ipfs/')) rest = text.slice('/ipfs/'.length)
  else rest = text
  rest = rest.replace(/[?#].*$/, '')
  const [first = '', ...segments] = rest.split('/')
  if (first === '') throw usage(input, 'no CID')
  let cid: CID
  try {
    cid = CID.parse(first)
  } catch (err) {
    throw usage(input, `${first} is not a CID`, err)
  }
  if (!SUPPORTED_HASHES.has(cid.multihash.code)) throw usage(input, `hash function 0x${cid.multihash.code.toString(16)} cannot be verified here (sha2-256, sha2-512 and identity can)`)
  const path: string[] = []
  for (const segment of segments) {
    if (segment === '') continue
    let name: string
    try {
      name = decodeURIComponent(segment)
    } catch (err) {
      throw usage(input, `bad escape in path segment ${segment}`, err)
    }
    if (name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw usage(input, `path segment ${JSON.stringify(name)} is not allowed`)
    path.push(name)
  }
  // A dag-cbor or dag-json root is no file, but a path through it may lead to one.
  if (!CODECS.has(cid.code) && !(PATH_CODECS.has(cid.code) && path.length > 0)) {
    throw usage(input, `codec 0x${cid.code.toString(16)} is ${PATH_CODECS.has(cid.code) ? 'dag-cbor or dag-json: give a path inside it that leads to a UnixFS file' : 'neither dag-pb nor raw, so it is not a UnixFS file'}`)
  }
  const id = `ipfs://${cid.toString()}${path.map((p) => `/${encodeURIComponent(p)}`).join('')}`
  return { cid, path, id }
}
