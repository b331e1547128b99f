import { HaulError } from '@haul/core'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { GatewayGroup } from './block-fetcher.js'
import { CarTruncatedError, type CarReader } from './car-reader.js'
import { DEFAULT_BLOCK_CACHE_BYTES, DEFAULT_MAX_UNREQUESTED_BYTES, DEFAULT_RAW_PARALLEL } from './defaults.js'
import { integrityError } from './errors.js'
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

/**
 * Same key for a CIDv0 and its CIDv1 spelling: the codec (a CIDv0 is dag-pb) and the multihash's
 * bytes as a string, which costs a fraction of a base32 CID string, asked for several times per block.
 */
export function keyOf(cid: CID): string {
  const { bytes } = cid.multihash
  return `${cid.code}:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')}`
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

/**
 * The blocks the walk said it will want, in the order it will want them (depth first: the hints of
 * a node come before those of the nodes after it). A stack of hint lists, so that hinting and
 * taking in walk order cost O(1) however long a directory's listing is.
 */
export class Upcoming {
  private readonly stack: Array<{ cids: CID[]; at: number }> = []
  private readonly counts = new Map<string, number>()

  add(cids: readonly CID[]): void {
    const kept = cids.filter((c) => c.multihash.code !== identity.code)
    if (kept.length === 0) return
    this.stack.push({ cids: kept, at: 0 })
    for (const cid of kept) {
      const key = keyOf(cid)
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    }
  }

  /** Whether the walk will want `key` (again). */
  has(key: string): boolean {
    return this.counts.has(key)
  }

  /** The walk took `key`: one hint of it is used up (none when it was not hinted). */
  take(key: string): void {
    const count = this.counts.get(key)
    if (count === undefined) return
    if (count > 1) this.counts.set(key, count - 1)
    else this.counts.delete(key)
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const level = this.stack[i]!
      const found = level.cids[level.at] !== undefined && keyOf(level.cids[level.at]!) === key ? level.at : level.cids.findIndex((c, j) => j >= level.at && keyOf(c) === key)
      if (found < 0) continue
      if (found === level.at) level.at++
      else level.cids.splice(found, 1)
      break
    }
    this.trim()
  }

  /** The next hinted block in walk order, taken; undefined when none is left. */
  shift(): CID | undefined {
    this.trim()
    const top = this.stack.at(-1)
    const cid = top?.cids[top.at]
    if (cid !== undefined) this.take(keyOf(cid))
    return cid
  }

  private trim(): void {
    for (let top = this.stack.at(-1); top !== undefined && top.at >= top.cids.length; top = this.stack.at(-1)) this.stack.pop()
  }
}

/** A section read ahead of the walk, its verification under way. */
interface Pending {
  /** The section's CID as a cache key. */
  key: string
  /** The CID's codec. */
  codec: number
  length: number
  owned: boolean
  /** The verified bytes; rejects if they do not match the CID. */
  verified: Promise<Uint8Array>
}

/**
 * Sections being hashed on the hash thread at once; the others are hashed here. The thread also
 * hashes the file for core; a block costs it one message each way (the digest comes back with
 * the bytes). Sending only while it keeps up balances the two threads by itself: a busy machine,
 * where the thread lags, hashes more here. 256 MiB by CID, A/B against 2: 0.86 → 0.77 s (16: 0.79)
 * on a busy machine; on a quiet one, where the main thread is the longer of the two, 8 → 16 took
 * 0.609 → 0.592 s (16 alternating rounds; two shorter sets agreed).
 */
const MAX_THREADED_SECTIONS = 16

/** Sections read and being verified ahead of the walk, at most this many bytes... */
const READ_AHEAD_BYTES = 4 * 1024 * 1024
/** ...and this many sections. */
const READ_AHEAD_SECTIONS = 16

/** Options for {@link CarBlocks}. */
export interface CarBlocksOptions {
  /**
   * The stream repeats duplicate blocks (dups=y) and the walk's consumer is done with a block's
   * bytes once it releases them: blocks taken in order are then not cached, and their memory is
   * reused for later sections.
   * @default false
   */
  reuse?: boolean
  /** Stops waiting for the stream. */
  signal?: AbortSignal
}

/**
 * Blocks from one CAR response. The walk asks in depth-first order and the gateway sends in that
 * order, so normally the next section is the one wanted. Sections are read a few ahead of the walk
 * and verified as they arrive (big ones on the hash thread), so hashing overlaps with receiving
 * and writing. Sections nobody asked for are kept verified (within a budget) in case they are
 * wanted later; a duplicate of a block already served from the cache is skipped.
 *
 * A CAR may be incomplete: it may end early (cleanly or inside a block), or leave blocks out.
 * A wanted block is taken to be left out when the stream has moved on to a block the walk wants
 * later. Either way the block comes from `fallback` (raw blocks), and once the stream is over the
 * rest of the walk is fetched block by block, a few ahead. Incomplete is not a lie: only a block
 * that does not hash to its CID is.
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
  /** Settles when the read under way adds a section: what {@link peek} waits for, beside the read's end. */
  private arrival: { promise: Promise<void>; settle: () => void } | undefined
  /** The stream's clean (or early) end, or how reading it failed; met after every section before it. */
  private end: { error?: unknown } | undefined
  private readonly reuse: boolean
  private readonly signal: AbortSignal | undefined
  /** Sections on the hash thread now. */
  private threaded = 0

  /**
   * @param fallback where blocks the stream lacks come from; it shares `upcoming` with this getter
   * @param upcoming the walk's hints, shared with `fallback`
   */
  constructor(
    private readonly reader: CarReader,
    private readonly label: string,
    private readonly fallback: RawBlocks,
    private readonly upcoming: Upcoming,
    options: CarBlocksOptions = {},
  ) {
    this.reuse = options.reuse ?? false
    this.signal = options.signal
  }

  /** Room for another section in the read-ahead. */
  private hasRoom(): boolean {
    return this.aheadBytes < READ_AHEAD_BYTES && this.ahead.length < READ_AHEAD_SECTIONS
  }

  /**
   * Starts reading sections until the read-ahead is full or the stream ends, unless a read is
   * under way or there is nothing to do; resolves when that read stops.
   */
  private pump(): Promise<void> {
    if (this.reading === undefined && this.end === undefined && this.hasRoom()) {
      // Assigned before it can settle, cleared only by itself: `reading` never outlives its read.
      const reading = this.readAhead()
      this.reading = reading
      void reading.then(() => {
        if (this.reading === reading) this.reading = undefined
      })
    }
    return this.reading ?? Promise.resolve()
  }

  /** Wakes whoever waits for the next section. */
  private arrived(): void {
    const arrival = this.arrival
    this.arrival = undefined
    arrival?.settle()
  }

  /** The read loop behind {@link pump}; never rejects (a failure becomes `end`). */
  private async readAhead(): Promise<void> {
    while (this.end === undefined && this.hasRoom()) {
      let section
      try {
        section = await this.reader.next()
      } catch (err) {
        // A CAR cut short is incomplete, like one that ends early: what it lacks is fetched.
        this.end = err instanceof CarTruncatedError ? {} : { error: err }
        return
      }
      if (section === null) {
        this.end = {}
        return
      }
      // Measured first: verifying may hand the bytes to the hash thread (detaching them) at once.
      const length = section.bytes.length
      const offload = section.owned && this.threaded < MAX_THREADED_SECTIONS
      const verified = verifyBlock(section.cid, section.bytes, this.label, offload)
      if (offload) {
        this.threaded++
        void verified.finally(() => this.threaded--).catch(() => undefined)
      }
      // Settled when consumed; a section dropped unconsumed (a duplicate, a closed read) must
      // not become an unhandled rejection.
      verified.catch(() => undefined)
      this.ahead.push({ key: keyOf(section.cid), codec: section.cid.code, length, owned: section.owned, verified })
      this.aheadBytes += length
      // The walk may go on with this one while the loop reads the next.
      this.arrived()
    }
  }

  /** The next section in stream order without taking it, or null at the stream's end (or its error, thrown). */
  private async peek(): Promise<Pending | null> {
    for (;;) {
      this.signal?.throwIfAborted()
      const head = this.ahead[0]
      if (head !== undefined) return head
      if (this.end !== undefined) {
        if ('error' in this.end) throw this.end.error
        this.fallback.startPrefetch()
        return null
      }
      const reading = this.pump()
      if (this.reading === undefined) {
        // Nothing ahead, no end, and no read started: waiting could only spin. A bug, said loudly.
        throw new HaulError('HAUL_INTERNAL', `Internal error: the CAR reader for ${this.label} stalled with nothing read ahead. Please report this.`)
      }
      // The first section that arrives (or the read's end), not the whole read-ahead: the walk
      // goes on with it while the loop reads the next.
      if (this.arrival === undefined) {
        let settle = (): void => undefined
        const promise = new Promise<void>((resolve) => (settle = resolve))
        this.arrival = { promise, settle }
      }
      await Promise.race([this.arrival.promise, reading])
    }
  }

  /** Takes the head section (which {@link peek} returned). */
  private shift(): Pending {
    const head = this.ahead.shift()
    if (head === undefined) throw new HaulError('HAUL_INTERNAL', 'Internal error: CarBlocks.shift with nothing ahead. Please report this.')
    this.aheadBytes -= head.length
    void this.pump()
    return head
  }

  /** Whether `key` is in the read-ahead, once it is as full as it gets. */
  private async isAhead(key: string): Promise<boolean> {
    while (!this.ahead.some((p) => p.key === key) && this.end === undefined && this.hasRoom()) {
      this.signal?.throwIfAborted()
      await this.pump()
    }
    return this.ahead.some((p) => p.key === key)
  }

  /** Blocks handed to the walk whose memory is reused once the walk releases them. */
  private readonly reusable = new WeakSet<Uint8Array>()

  release(bytes: Uint8Array): void {
    if (!this.reusable.delete(bytes)) return
    this.reader.recycle(bytes.buffer as ArrayBuffer)
  }

  hint(cids: CID[]): void {
    this.upcoming.add(cids)
    this.fallback.prefetch()
  }

  /** Blocks the walk will not read, whose subtrees are drained from the stream when they come. */
  private readonly skipping = new Set<string>()

  /**
   * The walk will not read these blocks (nor what they link to): a file an earlier run finished,
   * or the rest of a file that other requests fetch. A stream that still sends them has them
   * drained, and not counted as blocks nobody asked for.
   */
  skip(cids: readonly CID[]): void {
    for (const cid of cids) {
      if (cid.multihash.code === identity.code) continue
      const key = keyOf(cid)
      this.skipping.add(key)
      this.upcoming.take(key)
    }
  }

  /** Drains the head section, a skipped block; its links are skipped too. */
  private async drain(head: Pending): Promise<void> {
    this.shift()
    const bytes = await head.verified
    if (head.codec !== dagPb.code) return
    let links: CID[]
    try {
      links = dagPb.decode(bytes).Links.map((l) => l.Hash)
    } catch {
      return // not the walk's concern: it never reads this block
    }
    for (const link of links) if (link.multihash.code !== identity.code) this.skipping.add(keyOf(link))
  }

  private missing(cid: CID): Promise<Uint8Array> {
    return this.fallback.fetch(cid)
  }

  async get(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    const key = keyOf(cid)
    this.upcoming.take(key)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.owed.set(key, (this.owed.get(key) ?? 0) + 1)
      return hit
    }
    for (;;) {
      const head = await this.peek()
      if (head === null) return this.missing(cid)
      if (head.key === key) {
        this.shift()
        const bytes = await head.verified
        // With duplicates in the stream (dups=y), a block wanted again comes again: one the walk
        // takes in order need not be kept, and its memory goes back to the reader once released.
        if (this.reuse) {
          if (head.owned) this.reusable.add(bytes)
          return bytes
        }
        const own = ownMemory(head, bytes)
        this.cache.put(key, own)
        return own
      }
      const owed = this.owed.get(head.key) ?? 0
      if (owed > 0) {
        this.owed.set(head.key, owed - 1)
        this.shift()
        continue
      }
      if (this.skipping.has(head.key)) {
        await this.drain(head)
        continue
      }
      if (this.upcoming.has(head.key)) {
        // The stream moved on to a block wanted later: the one wanted now comes further on (out
        // of order), or the gateway left it out.
        if (!(await this.isAhead(key))) return this.missing(cid)
        this.shift()
        this.cache.put(head.key, ownMemory(head, await head.verified))
        continue
      }
      this.shift()
      this.unrequested += head.length
      if (this.unrequested > DEFAULT_MAX_UNREQUESTED_BYTES) {
        throw integrityError(`Gateway ${this.label} sent over ${DEFAULT_MAX_UNREQUESTED_BYTES} bytes of blocks the file does not need.`, this.label)
      }
      this.cache.put(head.key, ownMemory(head, await head.verified))
    }
  }
}

/**
 * A verified section's bytes in memory of their own: a section that lay inside one network chunk
 * is copied out of it, so that a block that is kept (cached, or held by a caller that keeps
 * chunks) does not pin the whole read buffer around it.
 */
function ownMemory(section: Pending, bytes: Uint8Array): Uint8Array {
  return section.owned ? bytes : Uint8Array.prototype.slice.call(bytes)
}

/**
 * Blocks fetched one by one with `?format=raw` (from this gateway, or from another of the group
 * when this one does not have a block), a few ahead of the walk once prefetching is on.
 */
export class RawBlocks implements BlockGetter {
  private readonly cache = new BlockCache(DEFAULT_BLOCK_CACHE_BYTES)
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  private prefetching: boolean

  /**
   * @param upcoming the walk's hints (shared with a {@link CarBlocks} this one backs up)
   * @param prefetch fetch hinted blocks ahead from the start (else from {@link startPrefetch} on)
   */
  constructor(
    private readonly gateway: string,
    private readonly group: GatewayGroup,
    private readonly signal: AbortSignal,
    private readonly upcoming: Upcoming = new Upcoming(),
    prefetch = true,
  ) {
    this.prefetching = prefetch
  }

  hint(cids: CID[]): void {
    this.upcoming.add(cids)
    this.prefetch()
  }

  /** Fetches hinted blocks ahead from now on. */
  startPrefetch(): void {
    this.prefetching = true
    this.prefetch()
  }

  /** Starts fetches of the next hinted blocks, within the parallel bound. */
  prefetch(): void {
    while (this.prefetching && this.inflight.size < DEFAULT_RAW_PARALLEL && !this.signal.aborted) {
      const cid = this.upcoming.shift()
      if (cid === undefined) break
      // Taken off the hints by shift(): get() will find it in flight or in the cache.
      if (this.cache.get(keyOf(cid)) === undefined) this.start(cid)
    }
  }

  private start(cid: CID): Promise<Uint8Array> {
    const key = keyOf(cid)
    const existing = this.inflight.get(key)
    if (existing !== undefined) return existing
    const promise = this.group.fetch(cid, this.gateway, this.signal).then(
      (bytes) => {
        this.inflight.delete(key)
        this.cache.put(key, bytes)
        this.prefetch()
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
    this.upcoming.take(keyOf(cid))
    return this.fetch(cid)
  }

  /** Like {@link get}, for a caller that has already taken the block off the shared hints. */
  async fetch(cid: CID): Promise<Uint8Array> {
    return this.cache.get(keyOf(cid)) ?? (await this.start(cid))
  }
}
