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
   * Whether `bytes` sit in memory allocated for this section alone (copied out of the network
   * chunks: it spanned them, or they are transient), which may therefore be handed to another
   * thread. Otherwise `bytes` is a view into a network chunk that other sections share. `cid`
   * never refers to it.
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

/** Options for a {@link CarReader}. */
export interface CarReaderOptions {
  /**
   * The source reuses a chunk's memory once the next one is asked for (the socket fast path's
   * read buffers): every section is then copied out into memory of its own (`owned`), and nothing
   * of a chunk is kept past the next pull. Otherwise a section that lies in one chunk is a view of it.
   * @default false
   */
  transientChunks?: boolean
  /** @default DEFAULT_MAX_BLOCK_BYTES */
  maxBlockBytes?: number
}

const EMPTY = new Uint8Array(0)

/**
 * Reads a CARv1 stream section by section without ever holding more than one section (bounded by
 * the block limit) plus one network chunk in memory. Errors from the underlying stream (a broken
 * connection) pass through unchanged; malformed or truncated CAR data is HAUL_INTEGRITY.
 */
export class CarReader {
  /** The network chunk being read, and where in it. */
  private chunk: Uint8Array = EMPTY
  private at = 0
  private done = false
  private readonly maxSection: number
  private readonly transient: boolean
  /** The bytes of the last varint read, for the header's framing. */
  private readonly varintBytes = new Uint8Array(MAX_VARINT_BYTES)

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    private readonly label: string,
    options: CarReaderOptions = {},
  ) {
    this.maxSection = (options.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES) + MAX_CID_BYTES
    this.transient = options.transientChunks ?? false
  }

  /** Makes sure an unread byte is at hand, pulling chunks as needed; false at the end of the stream. */
  private async more(): Promise<boolean> {
    while (this.at >= this.chunk.length) {
      if (this.done) return false
      const next = await this.source.next()
      if (next.done === true) {
        this.done = true
        this.chunk = EMPTY
        this.at = 0
        return false
      }
      this.chunk = next.value
      this.at = 0
    }
    return true
  }

  /** Memory given back by {@link recycle}, for the next sections that are copied. */
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
   * out), so the next section that is copied reuses it instead of new memory for the garbage
   * collector. At most {@link MAX_SPARE_BYTES} are kept.
   */
  recycle(memory: ArrayBuffer): void {
    if (memory.byteLength === 0 || this.spareBytes + memory.byteLength > MAX_SPARE_BYTES) return
    this.spare.push(memory)
    this.spareBytes += memory.byteLength
  }

  /**
   * The next `n` bytes of the stream, or undefined when it ends first: a view of the chunk when
   * they lie in it (and chunks are not transient), else one copy in memory of its own (`owned`).
   * `into` is memory to copy into instead (the header's).
   */
  private async take(n: number, into?: Uint8Array): Promise<{ bytes: Uint8Array; owned: boolean } | undefined> {
    if (!(await this.more())) return undefined
    if (into === undefined && !this.transient && this.chunk.length - this.at >= n) {
      const bytes = this.chunk.subarray(this.at, this.at + n)
      this.at += n
      return { bytes, owned: false }
    }
    // Not zero-filled: every byte is overwritten below.
    const out = into ?? new Uint8Array(this.memoryFor(n), 0, n)
    for (let filled = out.length - n; filled < out.length; ) {
      if (!(await this.more())) return undefined
      const part = Math.min(out.length - filled, this.chunk.length - this.at)
      out.set(this.chunk.subarray(this.at, this.at + part), filled)
      filled += part
      this.at += part
    }
    return { bytes: out, owned: true }
  }

  /** Reads a varint (its bytes land in {@link varintBytes}): its value and length, or null at a clean end before it. */
  private async varint(): Promise<{ value: number; length: number } | null> {
    let value = 0
    for (let index = 0; ; ) {
      if (this.at >= this.chunk.length && !(await this.more())) {
        if (index === 0) return null
        throw new CarTruncatedError(this.label, 'a section length')
      }
      const byte = this.chunk[this.at++]!
      this.varintBytes[index] = byte
      value += (byte & 0x7f) * 2 ** (7 * index)
      index++
      if ((byte & 0x80) === 0) return { value, length: index }
      if (index === MAX_VARINT_BYTES) throw integrityError(`CAR from ${this.label} has a section length that does not fit.`, this.label)
    }
  }

  /** Reads and checks the CARv1 header. Throws CarHeaderError when the stream is not a CARv1. */
  async header(): Promise<void> {
    let prefix: { value: number; length: number } | null
    try {
      prefix = await this.varint()
    } catch (err) {
      throw new CarHeaderError('CAR header length unreadable', { cause: err })
    }
    if (prefix === null || prefix.value === 0 || prefix.value > MAX_HEADER_BYTES) throw new CarHeaderError(`CAR header length ${String(prefix?.value)} is not usable`)
    // The decoder reads the header with its length in front, as it came.
    const framed = new Uint8Array(prefix.length + prefix.value)
    framed.set(this.varintBytes.subarray(0, prefix.length))
    if ((await this.take(prefix.value, framed)) === undefined) throw new CarHeaderError('CAR header is truncated')
    try {
      // Roots are ignored: the trustless gateway spec leaves them unspecified.
      await readHeader(bytesReader(framed), 1)
    } catch (err) {
      throw new CarHeaderError(`not a CARv1 header: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  /** The next section, or null at a clean end between sections. */
  async next(): Promise<CarSection | null> {
    const prefix = await this.varint()
    if (prefix === null) return null
    const length = prefix.value
    if (length === 0 || length > this.maxSection) {
      throw integrityError(`CAR from ${this.label} announces a ${length}-byte section; blocks over ${this.maxSection - MAX_CID_BYTES} bytes are refused.`, this.label)
    }
    const section = await this.take(length)
    if (section === undefined) throw new CarTruncatedError(this.label, 'a block')
    let cid: CID
    let bytes: Uint8Array
    try {
      ;[cid, bytes] = CID.decodeFirst(section.bytes)
      // The CID is a view into the section; memory that may move to the hash thread, or be
      // recycled for a later section, keeps no CID.
      if (section.owned) cid = CID.decode(section.bytes.slice(0, section.bytes.length - bytes.length))
    } catch (err) {
      throw integrityError(`CAR from ${this.label} holds a section without a valid CID.`, this.label, err)
    }
    return { cid, bytes, owned: section.owned }
  }
}
