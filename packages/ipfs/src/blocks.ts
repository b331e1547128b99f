import type { Transport } from '@haul/http'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { CarReader } from './car-reader.js'
import { DEFAULT_BLOCK_CACHE_BYTES, DEFAULT_MAX_BLOCK_BYTES, DEFAULT_MAX_UNREQUESTED_BYTES, DEFAULT_RAW_PARALLEL } from './defaults.js'
import { integrityError } from './errors.js'
import { gatewayGet, RAW_ACCEPT } from './http.js'
import { verifyBlock } from './verify.js'

/** Where the DAG walk gets verified blocks from. */
export interface BlockGetter {
  /** The block's verified bytes; throws when it cannot be had. */
  get(cid: CID): Promise<Uint8Array>
  /** Blocks the walk will want soon, in order (lets a block-by-block getter fetch ahead). */
  hint?(cids: CID[]): void
  /** The walk is done with `bytes` (a block `get` returned): nothing refers to them any more. */
  release?(bytes: Uint8Array): void
}

/** Same key for a CIDv0 and its CIDv1 spelling. */
function keyOf(cid: CID): string {
  return cid.toV1().toString()
}

/** Verified blocks, least recently used evicted beyond a byte budget. */
class BlockCache {
  private readonly map = new Map<string, Uint8Array>()
  private bytes = 0

  constructor(private readonly budget: number) {}

  get(key: string): Uint8Array | undefined {
    const hit = this.map.get(key)
    if (hit !== undefined) {
      this.map.delete(key)
      this.map.set(key, hit)
    }
    return hit
  }

  put(key: string, block: Uint8Array): void {
    if (this.map.has(key)) return
    this.map.set(key, block)
    this.bytes += block.length
    for (const [oldKey, old] of this.map) {
      if (this.bytes <= this.budget) break
      this.map.delete(oldKey)
      this.bytes -= old.length
    }
  }
}

/** A section read ahead of the walk, its verification under way. */
interface Pending {
  /** The section's CID as a cache key. */
  key: string
  length: number
  owned: boolean
  /** The verified bytes; rejects if they do not match the CID. */
  verified: Promise<Uint8Array>
}

/** Sections read and being verified ahead of the walk, at most this many bytes... */
const READ_AHEAD_BYTES = 4 * 1024 * 1024
/** ...and this many sections. */
const READ_AHEAD_SECTIONS = 16

/**
 * Blocks from one CAR response. The walk asks in depth-first order and the gateway sends in that
 * order, so normally the next section is the one wanted. Sections are read a few ahead of the walk
 * and verified as they arrive (big ones on the hash thread), so hashing overlaps with receiving
 * and writing. Sections nobody asked for are kept verified (within a budget) in case they are
 * wanted later; a duplicate of a block already served from the cache is skipped. A wanted block
 * that never comes is an integrity failure.
 */
export class CarBlocks implements BlockGetter {
  private readonly cache = new BlockCache(DEFAULT_BLOCK_CACHE_BYTES)
  /** Copies of a block the stream still owes us because we served it from the cache (dups=y). */
  private readonly owed = new Map<string, number>()
  private unrequested = 0
  /** Read-ahead, in stream order. */
  private readonly ahead: Pending[] = []
  private aheadBytes = 0
  /** The read under way, if any (the reader takes one call at a time). */
  private reading: Promise<void> | undefined
  /** The stream's clean end, or how reading it failed; met after every section before it. */
  private end: { error?: unknown } | undefined

  /**
   * @param reuse the stream repeats duplicate blocks (dups=y) and the walk's consumer is done with
   *   a block's bytes once it releases them: blocks taken in order are then not cached, and their
   *   memory is reused for later sections
   */
  constructor(
    private readonly reader: CarReader,
    private readonly label: string,
    private readonly reuse = false,
  ) {}

  /** Reads sections until the read-ahead is full or the stream ends; one loop at a time. */
  private pump(): Promise<void> {
    this.reading ??= (async () => {
      try {
        while (this.end === undefined && this.aheadBytes < READ_AHEAD_BYTES && this.ahead.length < READ_AHEAD_SECTIONS) {
          let section
          try {
            section = await this.reader.next()
          } catch (err) {
            this.end = { error: err }
            break
          }
          if (section === null) {
            this.end = {}
            break
          }
          // Measured first: verifying may hand the bytes to the hash thread (detaching them) at once.
          const length = section.bytes.length
          const verified = verifyBlock(section.cid, section.bytes, this.label, section.owned)
          // Settled when consumed; a section dropped unconsumed (a duplicate, a closed read) must
          // not become an unhandled rejection.
          verified.catch(() => undefined)
          this.ahead.push({ key: keyOf(section.cid), length, owned: section.owned, verified })
          this.aheadBytes += length
        }
      } finally {
        this.reading = undefined
      }
    })()
    return this.reading
  }

  /** The next section in stream order, or null at the stream's end (or its error, thrown). */
  private async nextSection(): Promise<Pending | null> {
    for (;;) {
      const head = this.ahead.shift()
      if (head !== undefined) {
        this.aheadBytes -= head.length
        void this.pump()
        return head
      }
      if (this.end !== undefined) {
        if ('error' in this.end) throw this.end.error
        return null
      }
      await this.pump()
    }
  }

  /** Blocks handed to the walk whose memory is reused once the walk releases them. */
  private readonly reusable = new WeakSet<Uint8Array>()

  release(bytes: Uint8Array): void {
    if (!this.reusable.delete(bytes)) return
    this.reader.recycle(bytes.buffer as ArrayBuffer)
  }

  async get(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const key = keyOf(cid)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.owed.set(key, (this.owed.get(key) ?? 0) + 1)
      return hit
    }
    for (;;) {
      const section = await this.nextSection()
      if (section === null) {
        throw integrityError(`CAR from ${this.label} ended without block ${cid.toString()}, which the file needs (the response was truncated or incomplete).`, this.label)
      }
      if (section.key === key) {
        const bytes = await section.verified
        // With duplicates in the stream (dups=y), a block wanted again comes again: one the walk
        // takes in order need not be kept, and its memory goes back to the reader once released.
        if (this.reuse && section.owned) this.reusable.add(bytes)
        else this.cache.put(key, bytes)
        return bytes
      }
      const owed = this.owed.get(section.key) ?? 0
      if (owed > 0) {
        this.owed.set(section.key, owed - 1)
        continue
      }
      this.unrequested += section.length
      if (this.unrequested > DEFAULT_MAX_UNREQUESTED_BYTES) {
        throw integrityError(`Gateway ${this.label} sent over ${DEFAULT_MAX_UNREQUESTED_BYTES} bytes of blocks the file does not need.`, this.label)
      }
      this.cache.put(section.key, await section.verified)
    }
  }
}

/** Blocks fetched one by one with `?format=raw`, a few ahead of the walk. */
export class RawBlocks implements BlockGetter {
  private readonly cache = new BlockCache(DEFAULT_BLOCK_CACHE_BYTES)
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  private queue: CID[] = []

  constructor(
    private readonly transport: Transport,
    private readonly gateway: string,
    private readonly label: string,
    private readonly signal: AbortSignal,
  ) {}

  hint(cids: CID[]): void {
    this.queue = [...cids.filter((c) => c.multihash.code !== identity.code), ...this.queue]
    this.pump()
  }

  private pump(): void {
    while (this.inflight.size < DEFAULT_RAW_PARALLEL && this.queue.length > 0 && !this.signal.aborted) {
      const cid = this.queue.shift()
      if (cid !== undefined && this.cache.get(keyOf(cid)) === undefined) this.start(cid)
    }
  }

  private start(cid: CID): Promise<Uint8Array> {
    const key = keyOf(cid)
    const existing = this.inflight.get(key)
    if (existing !== undefined) return existing
    const promise = this.fetchOne(cid).then(
      (bytes) => {
        this.inflight.delete(key)
        this.cache.put(key, bytes)
        this.pump()
        return bytes
      },
      (err: unknown) => {
        this.inflight.delete(key)
        throw err
      },
    )
    // A prefetch nobody awaits must not become an unhandled rejection.
    promise.catch(() => undefined)
    this.inflight.set(key, promise)
    return promise
  }

  async get(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const key = keyOf(cid)
    this.queue = this.queue.filter((c) => keyOf(c) !== key)
    return this.cache.get(key) ?? (await this.start(cid))
  }

  private async fetchOne(cid: CID): Promise<Uint8Array> {
    const url = `${this.gateway}/ipfs/${cid.toString()}?format=raw`
    const { header, chunks } = await gatewayGet(this.transport, url, RAW_ACCEPT, this.label, this.signal)
    const declared = Number(header('content-length') ?? '0')
    const tooBig = (): Error => integrityError(`Gateway ${this.label} sent over ${DEFAULT_MAX_BLOCK_BYTES} bytes for block ${cid.toString()}.`, this.label)
    if (declared > DEFAULT_MAX_BLOCK_BYTES) {
      await chunks.return?.()
      throw tooBig()
    }
    const parts: Uint8Array[] = []
    let length = 0
    for (;;) {
      const next = await chunks.next()
      if (next.done === true) break
      length += next.value.length
      if (length > DEFAULT_MAX_BLOCK_BYTES) {
        await chunks.return?.()
        throw tooBig()
      }
      parts.push(next.value)
    }
    if (parts.length === 1 && parts[0] !== undefined) return verifyBlock(cid, parts[0], this.label)
    // Joined into memory of its own, which verification may hand to the hash thread.
    const joined = Buffer.allocUnsafeSlow(length)
    let at = 0
    for (const part of parts) {
      joined.set(part, at)
      at += part.length
    }
    return verifyBlock(cid, joined, this.label, true)
  }
}
