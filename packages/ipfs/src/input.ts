import { HaulError } from '@haul/core'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'

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
export const SUPPORTED_HASHES = new Set<number>([sha256.code, sha512.code, identity.code])

const CODECS = new Set<number>([dagPb.code, raw.code])

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
  if (!CODECS.has(cid.code)) throw usage(input, `codec 0x${cid.code.toString(16)} is neither dag-pb nor raw, so it is not a UnixFS file`)
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
  const id = `ipfs://${cid.toString()}${path.map((p) => `/${encodeURIComponent(p)}`).join('')}`
  return { cid, path, id }
}
