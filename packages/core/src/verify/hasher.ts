import { createHash, type Hash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import type { IHasher } from 'hash-wasm'
import { BufferPool } from '../fetch/buffer-pool.js'
import { createBLAKE2b, createBLAKE3 } from './wasm-hashers.js'
import type { DigestAlgorithm } from './digest.js'
import { HashThread, type ThreadDigest } from './hash-thread.js'

/** node:crypto names; node:crypto is the fast path (SHA-NI, OpenSSL assembly). */
const NODE_NAMES: Partial<Record<DigestAlgorithm, string>> = {
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  'sha3-256': 'sha3-256',
  'sha3-512': 'sha3-512',
  'blake2b-512': 'blake2b512',
}

/** hash-wasm covers what node:crypto lacks. */
const WASM_FACTORIES: Partial<Record<DigestAlgorithm, () => Promise<IHasher>>> = {
  'blake2b-256': () => createBLAKE2b(256),
  blake3: () => createBLAKE3(),
}

interface Engine {
  update(chunk: Uint8Array): void
  digest(): string
}

function nodeEngine(name: string): Engine {
  const hash: Hash = createHash(name)
  return { update: (c) => hash.update(c), digest: () => hash.digest('hex') }
}

function wasmEngine(hasher: IHasher): Engine {
  hasher.init()
  return { update: (c) => void hasher.update(c), digest: () => hasher.digest('hex') }
}

/** Digest results by algorithm; sha256 is always there. */
export type Digests = Partial<Record<DigestAlgorithm, string>> & { sha256: string }

/** An engine on this thread: node:crypto where it has the algorithm, else hash-wasm. */
async function localEngine(algorithm: DigestAlgorithm): Promise<Engine> {
  const nodeName = NODE_NAMES[algorithm]
  return nodeName !== undefined ? nodeEngine(nodeName) : wasmEngine(await WASM_FACTORIES[algorithm]!())
}

/** The requested algorithms, sha256 always among them, each once. */
function withSha256(algorithms: Iterable<DigestAlgorithm>): Set<DigestAlgorithm> {
  return new Set<DigestAlgorithm>(['sha256', ...algorithms])
}

/** Several digests of one byte stream, computed in one pass. sha256 is always included. */
export class MultiHasher {
  readonly #engines: Map<DigestAlgorithm, Engine>

  private constructor(engines: Map<DigestAlgorithm, Engine>) {
    this.#engines = engines
  }

  static async create(algorithms: Iterable<DigestAlgorithm>): Promise<MultiHasher> {
    const engines = new Map<DigestAlgorithm, Engine>()
    for (const algorithm of withSha256(algorithms)) engines.set(algorithm, await localEngine(algorithm))
    return new MultiHasher(engines)
  }

  update(chunk: Uint8Array): void {
    for (const engine of this.#engines.values()) engine.update(chunk)
  }

  /** Finishes every digest (lowercase hex). The hasher can't be used afterwards. */
  digest(): Digests {
    const out: Partial<Record<DigestAlgorithm, string>> = {}
    for (const [algorithm, engine] of this.#engines) out[algorithm] = engine.digest()
    return out as Digests
  }
}

/**
 * Below this many bytes a digest runs on the calling thread: starting the hash thread (≈ 10 MiB
 * of memory and a few tens of milliseconds of CPU) costs more than hashing the bytes here (sha256
 * does ≈ 1.7 GB/s with SHA-NI, so 16 MiB is ≈ 10 ms).
 */
export const THREAD_MIN_BYTES = 16 * 1024 * 1024

/**
 * Several digests of one byte stream fed in order, in whole buffers that it takes over for a
 * while. node:crypto algorithms run on the hash thread when it is available and the stream is
 * not known to be small (the buffer is transferred there and comes back through `release`); the
 * others, and everything when the thread is not used, run here before `update` returns. Where
 * node:crypto runs is decided at the first update, when the caller usually knows the size.
 */
export class StreamDigest {
  readonly #local: Map<DigestAlgorithm, Engine>
  /** node:crypto names of the algorithms whose engine is not chosen yet. */
  readonly #nodeNames: Map<string, DigestAlgorithm>
  readonly #useThread: boolean
  readonly #sizeHint: () => number | undefined
  #decided = false
  #thread: ThreadDigest | undefined

  private constructor(local: Map<DigestAlgorithm, Engine>, nodeNames: Map<string, DigestAlgorithm>, useThread: boolean, sizeHint: () => number | undefined) {
    this.#local = local
    this.#nodeNames = nodeNames
    this.#useThread = useThread
    this.#sizeHint = sizeHint
  }

  /**
   * @param useThread false hashes everything on the calling thread
   * @param sizeHint the stream's length when known, asked at the first update
   */
  static async create(algorithms: Iterable<DigestAlgorithm>, useThread = true, sizeHint: () => number | undefined = () => undefined): Promise<StreamDigest> {
    const local = new Map<DigestAlgorithm, Engine>()
    const nodeNames = new Map<string, DigestAlgorithm>()
    for (const algorithm of withSha256(algorithms)) {
      const nodeName = NODE_NAMES[algorithm]
      if (nodeName !== undefined) nodeNames.set(nodeName, algorithm)
      else local.set(algorithm, await localEngine(algorithm))
    }
    return new StreamDigest(local, nodeNames, useThread, sizeHint)
  }

  /** Starts the node:crypto engines: on the hash thread unless the stream is known to be small. */
  #decide(): void {
    if (this.#decided) return
    this.#decided = true
    const size = this.#sizeHint()
    const thread = !this.#useThread || (size !== undefined && size < THREAD_MIN_BYTES) ? undefined : HashThread.shared()
    if (thread !== undefined) this.#thread = thread.open([...this.#nodeNames.keys()])
    else for (const [name, algorithm] of this.#nodeNames) this.#local.set(algorithm, nodeEngine(name))
  }

  /** Hashes `buffer[0, length)` and hands `buffer` to `release` once its memory may be reused. */
  update(buffer: Buffer, length: number, release: (b: Buffer) => void): void {
    this.#decide()
    if (this.#local.size > 0) {
      const view = buffer.subarray(0, length)
      for (const engine of this.#local.values()) engine.update(view)
    }
    if (this.#thread === undefined) return release(buffer)
    if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== buffer.byteLength) {
      // Only a buffer that owns its memory can be transferred: send a copy of the bytes instead.
      const copy = Buffer.allocUnsafeSlow(length)
      buffer.copy(copy, 0, 0, length)
      release(buffer)
      return this.#thread.update(copy, length, () => undefined)
    }
    this.#thread.update(buffer, length, release)
  }

  /** Every digest (lowercase hex), after all updates are hashed. Call once. */
  async digest(): Promise<Digests> {
    this.#decide()
    const out: Partial<Record<DigestAlgorithm, string>> = {}
    if (this.#thread !== undefined) {
      for (const [name, hex] of Object.entries(await this.#thread.digest())) out[this.#nodeNames.get(name)!] = hex
    }
    for (const [algorithm, engine] of this.#local) out[algorithm] = engine.digest()
    return out as Digests
  }

  /** Gives up without a digest. */
  drop(): void {
    this.#thread?.drop()
  }
}

const READ_BACK_BYTES = 1024 * 1024

/** Reads in flight while reading back: enough to keep the hash thread fed. */
const READS_AHEAD = 4

/**
 * Hashes [from, to) of an open file into `digest`, in pool buffers: up to {@link READS_AHEAD}
 * reads are in flight while the hash thread works on earlier ones, and they feed the digest in
 * order.
 */
export async function hashFileRange(file: FileHandle, digest: StreamDigest, pool: BufferPool, from: number, to: number, signal?: AbortSignal): Promise<void> {
  const reads: Array<Promise<{ buffer: Buffer; bytesRead: number; at: number }>> = []
  let next = from
  const start = (): void => {
    const at = next
    const length = Math.min(pool.size, to - at)
    next += length
    reads.push(
      pool.acquire().then(async (buffer) => {
        try {
          const { bytesRead } = await file.read(buffer, 0, length, at)
          return { buffer, bytesRead, at }
        } catch (err) {
          pool.release(buffer)
          throw err
        }
      }),
    )
  }
  try {
    while (next < to && reads.length < READS_AHEAD) start()
    while (reads.length > 0) {
      signal?.throwIfAborted()
      const { buffer, bytesRead, at } = await reads.shift()!
      if (bytesRead === 0) {
        pool.release(buffer)
        throw new Error(`unexpected end of file at byte ${at} while hashing`)
      }
      digest.update(buffer, bytesRead, pool.release)
      // A short read (not expected from a regular file): read the rest of its range before going on.
      const end = Math.min(to, at + pool.size)
      if (at + bytesRead < end) await hashFileRange(file, digest, pool, at + bytesRead, end, signal)
      while (next < to && reads.length < READS_AHEAD) start()
    }
  } finally {
    // After a failure, let the reads still in flight finish and give their buffers back.
    for (const r of reads.splice(0)) void r.then((x) => pool.release(x.buffer), () => undefined)
  }
}

/**
 * Digests of a whole file (sha256 always, plus `algorithms`), read a MiB at a time.
 * @param useThread false hashes on the calling thread
 */
export async function hashFile(path: string, algorithms: Iterable<DigestAlgorithm> = [], signal?: AbortSignal, useThread = true): Promise<Digests> {
  let size: number | undefined
  const digest = await StreamDigest.create(algorithms, useThread, () => size)
  const file = await open(path, 'r')
  try {
    size = (await file.stat()).size
    await hashFileRange(file, digest, new BufferPool(READ_BACK_BYTES, READS_AHEAD + 2), 0, size, signal)
  } catch (err) {
    digest.drop()
    throw err
  } finally {
    await file.close()
  }
  return digest.digest()
}

/**
 * Feeds a StreamDigest strictly in file order while bytes land out of order (segments, resume).
 * Bytes written at the current position are hashed straight from their write buffer; anything
 * else is read back from the file once the contiguous prefix reaches it, in the background.
 */
export class OrderedHasher {
  readonly #digest: StreamDigest
  readonly #file: FileHandle
  readonly #pool: BufferPool
  #position = 0
  #frontier = 0
  #catchUp: Promise<void> | undefined
  #failure: unknown

  constructor(digest: StreamDigest, file: FileHandle, pool: BufferPool) {
    this.#digest = digest
    this.#file = file
    this.#pool = pool
  }

  /** Bytes hashed so far (from 0). */
  get position(): number {
    return this.#position
  }

  /**
   * Call after `buffer[0, length)` is written at `offset`, with `frontier` = the end of the
   * written prefix from 0. The buffer goes to `release` when it may be reused (at once when its
   * bytes are not next in order; they are read back later).
   */
  written(offset: number, buffer: Buffer, length: number, frontier: number, release: (b: Buffer) => void): void {
    if (this.#catchUp === undefined && offset === this.#position && length > 0) {
      this.#position += length
      this.#digest.update(buffer, length, release)
    } else release(buffer)
    this.extend(frontier)
  }

  /** The written prefix from 0 now ends at `frontier`: what was not hashed yet is read back. */
  extend(frontier: number): void {
    this.#frontier = Math.max(this.#frontier, frontier)
    if (this.#catchUp === undefined && this.#frontier > this.#position) this.#startCatchUp()
  }

  #startCatchUp(): void {
    this.#catchUp = (async () => {
      try {
        while (this.#frontier > this.#position) {
          const to = this.#frontier
          await hashFileRange(this.#file, this.#digest, this.#pool, this.#position, to)
          this.#position = to
        }
      } catch (err) {
        this.#failure = err
      } finally {
        this.#catchUp = undefined
      }
    })()
  }

  /** Hashes up to `size` (reading back what is left) and returns the digests. */
  async finish(size: number): Promise<Digests> {
    this.#frontier = Math.max(this.#frontier, size)
    while (this.#catchUp !== undefined) await this.#catchUp
    if (this.#failure !== undefined) throw this.#failure
    if (this.#position < size) {
      await hashFileRange(this.#file, this.#digest, this.#pool, this.#position, size)
      this.#position = size
    }
    return this.#digest.digest()
  }

  /** Waits for a background read-back to stop (before the file is truncated or closed). */
  async settle(): Promise<void> {
    while (this.#catchUp !== undefined) await this.#catchUp
  }

  /** Gives up: waits for the read-back and frees the digest state. */
  async drop(): Promise<void> {
    await this.settle()
    this.#digest.drop()
  }
}
