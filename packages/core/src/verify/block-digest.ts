import { createHash } from 'node:crypto'
import { HaulError } from '../errors.js'
import { HashThread } from './hash-thread.js'

/** Below this a block hashes here at once: the round trip to the thread costs more than it saves. */
const THREAD_MIN_BYTES = 64 * 1024

/** A block's digest and the block, given back. */
export interface BlockDigest {
  /** The raw digest bytes. */
  digest: Uint8Array
  /** The block's bytes: the view passed in, or the same bytes in the memory that came back from the thread. */
  bytes: Uint8Array
}

/**
 * One node:crypto digest (`algorithm` as `createHash` names it) of `bytes`, for verifying
 * content-addressed blocks without holding up the main thread.
 *
 * With `transferable`, the caller says the whole ArrayBuffer under `bytes` is its alone: a big
 * block then travels to the hash thread, `bytes` is detached until the promise settles, and only
 * the returned `bytes` may be used after. Otherwise, and for small blocks or when the thread is not
 * there, it hashes here.
 *
 * If the thread dies with the block, the bytes are gone with it: the promise rejects with a
 * transient HAUL_SOURCE error, so a retry fetches the block again (and hashes it here).
 */
export async function digestBlock(algorithm: string, bytes: Uint8Array, transferable = false): Promise<BlockDigest> {
  const thread = transferable && bytes.length >= THREAD_MIN_BYTES ? HashThread.shared() : undefined
  if (thread === undefined) return { digest: createHash(algorithm).update(bytes).digest(), bytes }
  const { byteOffset, length } = bytes
  let back: { digest: Uint8Array; buffer: ArrayBuffer }
  try {
    back = await thread.digestBlock(algorithm, bytes.buffer as ArrayBuffer, byteOffset, length)
  } catch (err) {
    throw new HaulError('HAUL_SOURCE', 'A block was lost with the hashing thread; it will be fetched again.', { transient: true, cause: err })
  }
  return { digest: back.digest, bytes: new Uint8Array(back.buffer, byteOffset, length) }
}
