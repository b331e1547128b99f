import { HaulError } from '@haul/core'
import { CID } from 'multiformats/cid'
import { bytesReader, readHeader } from '@ipld/car/decoder'
import { DEFAULT_MAX_BLOCK_BYTES } from './defaults.js'
import { integrityError } from './errors.js'

/** One section of a CAR: a CID and the bytes claimed for it (not yet verified). */
export interface CarSection {
  cid: CID
  bytes: Uint8Array
  /**
   * Whether `bytes` sit in memory allocated for this section alone (the section spanned network
   * chunks and was copied together), which may therefore be handed to another thread. Otherwise
   * `bytes` is a view into a network chunk that other sections share. `cid` never refers to it.
   */
  owned: boolean
}

const MAX_HEADER_BYTES = 64 * 1024
/** A section length never needs more (2^63). */
const MAX_VARINT_BYTES = 9
/** Room for the CID in front of a block's bytes. */
const MAX_CID_BYTES = 256

/**
 * Spare section memory kept for reuse, in bytes: about what the block reader holds ahead of the
 * walk, so a burst of sections after a network stall still finds memory to reuse.
 */
const MAX_SPARE_BYTES = 4 * 1024 * 1024

/** The CAR header could not be read: the caller may fall back to raw blocks. */
export class CarHeaderError extends Error {}

/**
 * The stream ended inside a section: what came before is whole, what the section held is not.
 * HAUL_INTEGRITY for a caller that needs the stream whole; a caller that can fetch what is
 * missing treats it like an early end.
 */
export class CarTruncatedError extends HaulError {
  constructor(label: string, where: string) {
    super('HAUL_INTEGRITY', `CAR from ${label} ends inside ${where}.`, { source: label, transient: false })
  }
}

/**
 * Reads a CARv1 stream section by section without ever holding more than one section (bounded by
 * the block limit) plus one network chunk in memory. Errors from the underlying stream (a broken
 * connection) pass through unchanged; malformed or truncated CAR data is HAUL_INTEGRITY.
 */
export class CarReader {
  private readonly chunks: Uint8Array[] = []
  private buffered = 0
  private done = false
  private readonly maxSection: number

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    private readonly label: string,
    maxBlockBytes: number = DEFAULT_MAX_BLOCK_BYTES,
  ) {
    this.maxSection = maxBlockBytes + MAX_CID_BYTES
  }

  /** Pulls until `n` bytes are buffered or the stream ends; true when they are. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const next = await this.source.next()
      if (next.done === true) {
        this.done = true
        break
      }
      if (next.value.length > 0) {
        this.chunks.push(next.value)
        this.buffered += next.value.length
      }
    }
    return this.buffered >= n
  }

  /** Memory given back by {@link recycle}, for the next sections that span chunks. */
  private readonly spare: ArrayBuffer[] = []
  private spareBytes = 0

  /** Memory of its own for an `n`-byte section: a spare one that fits without much waste, else new. */
  private memoryFor(n: number): ArrayBuffer {
    const i = this.spare.findIndex((m) => m.byteLength >= n && m.byteLength <= 2 * n)
    const reused = i >= 0 ? this.spare.splice(i, 1)[0] : undefined
    if (reused !== undefined) {
      this.spareBytes -= reused.byteLength
      return reused
    }
    return Buffer.allocUnsafeSlow(n).buffer as ArrayBuffer
  }

  /**
   * Takes back the memory of an owned section nobody refers to any more (its bytes were copied
   * out), so the next section that spans chunks reuses it instead of new memory for the garbage
   * collector. At most {@link MAX_SPARE_BYTES} are kept.
   */
  recycle(memory: ArrayBuffer): void {
    if (memory.byteLength === 0 || this.spareBytes + memory.byteLength > MAX_SPARE_BYTES) return
    this.spare.push(memory)
    this.spareBytes += memory.byteLength
  }

  /**
   * The next `n` buffered bytes: a view of one network chunk when they sit in one, else one copy
   * in memory of its own (`owned`).
   */
  private take(n: number): { bytes: Uint8Array; owned: boolean } {
    const first = this.chunks[0]
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return { bytes: first.subarray(0, n), owned: false }
    }
    // Not zero-filled: every byte is overwritten below.
    const out = new Uint8Array(this.memoryFor(n), 0, n)
    let filled = 0
    while (filled < n) {
      const head = this.chunks[0]
      if (head === undefined) throw new Error('CarReader.take past the buffer')
      const part = Math.min(n - filled, head.length)
      out.set(head.subarray(0, part), filled)
      filled += part
      if (part === head.length) this.chunks.shift()
      else this.chunks[0] = head.subarray(part)
    }
    this.buffered -= n
    return { bytes: out, owned: true }
  }

  /**
   * Reads the varint at the front of the buffer without consuming it: its value and its length
   * in bytes, or null at a clean end of stream.
   */
  private async peekVarint(): Promise<{ value: number; length: number } | null> {
    await this.fill(MAX_VARINT_BYTES)
    if (this.buffered === 0) return null
    let value = 0
    let index = 0
    for (const chunk of this.chunks) {
      for (const byte of chunk) {
        value += (byte & 0x7f) * 2 ** (7 * index)
        index++
        if ((byte & 0x80) === 0) return { value, length: index }
        if (index === MAX_VARINT_BYTES) throw integrityError(`CAR from ${this.label} has a section length that does not fit.`, this.label)
      }
    }
    throw new CarTruncatedError(this.label, 'a section length')
  }

  /** Reads and checks the CARv1 header. Throws CarHeaderError when the stream is not a CARv1. */
  async header(): Promise<void> {
    let prefix: { value: number; length: number } | null
    try {
      prefix = await this.peekVarint()
    } catch (err) {
      throw new CarHeaderError('CAR header length unreadable', { cause: err })
    }
    if (prefix === null || prefix.value === 0 || prefix.value > MAX_HEADER_BYTES) throw new CarHeaderError(`CAR header length ${String(prefix?.value)} is not usable`)
    if (!(await this.fill(prefix.length + prefix.value))) throw new CarHeaderError('CAR header is truncated')
    const framed = this.take(prefix.length + prefix.value).bytes
    try {
      // Roots are ignored: the trustless gateway spec leaves them unspecified.
      await readHeader(bytesReader(framed), 1)
    } catch (err) {
      throw new CarHeaderError(`not a CARv1 header: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  /** The next section, or null at a clean end between sections. */
  async next(): Promise<CarSection | null> {
    const prefix = await this.peekVarint()
    if (prefix === null) return null
    this.take(prefix.length)
    const length = prefix.value
    if (length === 0 || length > this.maxSection) {
      throw integrityError(`CAR from ${this.label} announces a ${length}-byte section; blocks over ${this.maxSection - MAX_CID_BYTES} bytes are refused.`, this.label)
    }
    if (!(await this.fill(length))) throw new CarTruncatedError(this.label, 'a block')
    const section = this.take(length)
    let cid: CID
    let bytes: Uint8Array
    try {
      ;[cid, bytes] = CID.decodeFirst(section.bytes)
      // The CID is a view into the section; memory that may move to the hash thread keeps no CID.
      if (section.owned) cid = CID.decode(section.bytes.slice(0, section.bytes.length - bytes.length))
    } catch (err) {
      throw integrityError(`CAR from ${this.label} holds a section without a valid CID.`, this.label, err)
    }
    return { cid, bytes, owned: section.owned }
  }
}
