import { createHash, type Hash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { createBLAKE2b, createBLAKE3, type IHasher } from 'hash-wasm'
import type { DigestAlgorithm } from './digest.js'

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

/** Several digests of one byte stream, computed in one pass. sha256 is always included. */
export class MultiHasher {
  readonly #engines: Map<DigestAlgorithm, Engine>

  private constructor(engines: Map<DigestAlgorithm, Engine>) {
    this.#engines = engines
  }

  static async create(algorithms: Iterable<DigestAlgorithm>): Promise<MultiHasher> {
    const engines = new Map<DigestAlgorithm, Engine>()
    for (const algorithm of new Set<DigestAlgorithm>(['sha256', ...algorithms])) {
      const nodeName = NODE_NAMES[algorithm]
      if (nodeName !== undefined) engines.set(algorithm, nodeEngine(nodeName))
      else engines.set(algorithm, wasmEngine(await WASM_FACTORIES[algorithm]!()))
    }
    return new MultiHasher(engines)
  }

  update(chunk: Uint8Array): void {
    for (const engine of this.#engines.values()) engine.update(chunk)
  }

  /** Finishes every digest (lowercase hex). The hasher can't be used afterwards. */
  digest(): Partial<Record<DigestAlgorithm, string>> & { sha256: string } {
    const out: Partial<Record<DigestAlgorithm, string>> = {}
    for (const [algorithm, engine] of this.#engines) out[algorithm] = engine.digest()
    return out as Partial<Record<DigestAlgorithm, string>> & { sha256: string }
  }
}

const READ_BACK_BYTES = 1024 * 1024

/** Hashes [from, to) of an open file into `hasher`, a MiB at a time. */
export async function hashFileRange(file: FileHandle, hasher: MultiHasher, from: number, to: number, signal?: AbortSignal): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(READ_BACK_BYTES, Math.max(1, to - from)))
  let at = from
  while (at < to) {
    signal?.throwIfAborted()
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, to - at), at)
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${at} while hashing`)
    hasher.update(buffer.subarray(0, bytesRead))
    at += bytesRead
  }
}

/** Digests of a whole file (sha256 always, plus `algorithms`), read a MiB at a time. */
export async function hashFile(path: string, algorithms: Iterable<DigestAlgorithm> = [], signal?: AbortSignal): Promise<ReturnType<MultiHasher['digest']>> {
  const hasher = await MultiHasher.create(algorithms)
  const file = await open(path, 'r')
  try {
    await hashFileRange(file, hasher, 0, (await file.stat()).size, signal)
  } finally {
    await file.close()
  }
  return hasher.digest()
}

/**
 * Feeds a MultiHasher strictly in file order while bytes land out of order (segments, resume).
 * Bytes written at the current position are hashed straight from memory; anything else is read
 * back from the file once the contiguous prefix reaches it, in the background.
 */
export class OrderedHasher {
  readonly hasher: MultiHasher
  readonly #file: FileHandle
  #position = 0
  #frontier = 0
  #catchUp: Promise<void> | undefined
  #failure: unknown

  constructor(hasher: MultiHasher, file: FileHandle) {
    this.hasher = hasher
    this.#file = file
  }

  /** Bytes hashed so far (from 0). */
  get position(): number {
    return this.#position
  }

  /**
   * Call after bytes [offset, offset+len) are written, with `frontier` = the end of the written
   * prefix from 0. Chunks are hashed from memory when they sit at the current position.
   */
  written(offset: number, chunks: ReadonlyArray<Uint8Array>, frontier: number): void {
    this.#frontier = Math.max(this.#frontier, frontier)
    if (this.#catchUp === undefined && offset === this.#position) {
      for (const c of chunks) {
        this.hasher.update(c)
        this.#position += c.length
      }
    }
    if (this.#catchUp === undefined && this.#frontier > this.#position) this.#startCatchUp()
  }

  #startCatchUp(): void {
    this.#catchUp = (async () => {
      try {
        while (this.#frontier > this.#position) {
          const to = this.#frontier
          await hashFileRange(this.#file, this.hasher, this.#position, to)
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
  async finish(size: number): Promise<ReturnType<MultiHasher['digest']>> {
    this.#frontier = Math.max(this.#frontier, size)
    while (this.#catchUp !== undefined) await this.#catchUp
    if (this.#failure !== undefined) throw this.#failure
    if (this.#position < size) {
      await hashFileRange(this.#file, this.hasher, this.#position, size)
      this.#position = size
    }
    return this.hasher.digest()
  }

  /** Waits for a background read-back to stop (before the file is truncated or closed). */
  async settle(): Promise<void> {
    while (this.#catchUp !== undefined) await this.#catchUp
  }
}
