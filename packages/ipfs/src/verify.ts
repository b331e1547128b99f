import { digestBlock } from '@haul/core/driver'
import { equals } from 'multiformats/bytes'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { DEFAULT_MAX_BLOCK_BYTES } from './defaults.js'
import { integrityError } from './errors.js'

/** Multihash codes that can be verified, by node:crypto name. */
const ALGORITHMS = new Map<number, string>([
  [sha256.code, 'sha256'],
  [sha512.code, 'sha512'],
])

/**
 * Throws HAUL_INTEGRITY unless `bytes` hash to `cid`'s multihash; otherwise returns the verified
 * bytes. Called on every block before any byte of it is used.
 *
 * With `owned` (the bytes' ArrayBuffer belongs to this block alone), a big block is hashed on the
 * hash thread: `bytes` is detached meanwhile, and only the returned view may be used after.
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array, source: string, owned = false): Promise<Uint8Array> {
  if (bytes.length > DEFAULT_MAX_BLOCK_BYTES) {
    throw integrityError(`Gateway ${source} sent block ${cid.toString()} of ${bytes.length} bytes, over the ${DEFAULT_MAX_BLOCK_BYTES}-byte limit.`, source)
  }
  const mh = cid.multihash
  if (mh.code === identity.code) {
    if (!equals(mh.digest, bytes)) throw integrityError(`Gateway ${source} sent bytes that do not match identity CID ${cid.toString()}.`, source)
    return bytes
  }
  const algorithm = ALGORITHMS.get(mh.code)
  if (algorithm === undefined) {
    throw integrityError(`Block ${cid.toString()} uses hash function 0x${mh.code.toString(16)}, which cannot be verified (sha2-256, sha2-512 and identity can).`, source)
  }
  const { digest, bytes: verified } = await digestBlock(algorithm, bytes, owned)
  if (digest.length !== mh.digest.length || !equals(digest, mh.digest)) {
    throw integrityError(`Gateway ${source} sent a block that does not match its CID ${cid.toString()}; it is not trusted for the rest of this download.`, source)
  }
  return verified
}
