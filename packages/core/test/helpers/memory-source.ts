import { HaulError, type ReadRequest, type ReadResponse, type Source } from '../../src/index.js'

/** What one read does, chosen by the read's number (1-based). */
export interface MemoryFault {
  /** End the body after this many bytes with a transient error. */
  dropAfter?: number
  /** Stop yielding after this many bytes until aborted. */
  stallAfter?: number
  /** Ignore the offset and answer from byte 0. */
  restart?: boolean
  /** Fail the read before any byte. */
  error?: HaulError
  /** Yield bytes that differ from the real content (a lying source). */
  corrupt?: boolean
}

/** A tiny in-test Source over a Buffer, counting reads and bytes served. */
export class MemorySource implements Source {
  readonly id: string
  readonly label: string
  data: Buffer
  validator: string | undefined
  ranges = true
  reads: Array<{ offset: number; end: number | undefined; validator: string | undefined }> = []
  bytesServed = 0
  fault: (n: number) => MemoryFault | undefined
  /** Called after each chunk is handed out, with the running total. */
  onServe: (bytesServed: number) => void = () => undefined
  /** Read bodies into the buffers a read lends (ReadRequest.buffers), as the HTTP socket path does. */
  lend = false
  /** The lent buffers the bodies were read into, in the order they were taken. */
  lentBuffers: Buffer[] = []

  constructor(data: Buffer, options: { id?: string; label?: string; validator?: string; fault?: (n: number) => MemoryFault | undefined } = {}) {
    this.data = data
    this.id = options.id ?? 'mem://file'
    this.label = options.label ?? this.id
    this.validator = options.validator
    this.fault = options.fault ?? (() => undefined)
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    this.reads.push({ offset: request.offset, end: request.end, validator: request.validator })
    const fault = this.fault(this.reads.length) ?? {}
    if (fault.error !== undefined) throw fault.error
    const changed = request.validator !== undefined && request.validator !== this.validator
    const offset = fault.restart === true || !this.ranges || changed ? 0 : request.offset
    const end = offset === 0 && offset !== request.offset ? this.data.length : (request.end ?? this.data.length)
    const slice = fault.corrupt === true ? Buffer.alloc(end - offset, 0xee) : this.data.subarray(offset, end)
    const self = this
    // The lent buffer being filled: each one from its start to its end, then the next.
    let into: Buffer | undefined
    let fill = 0
    async function* lent(bytes: Buffer, buffers: NonNullable<ReadRequest['buffers']>): AsyncGenerator<Uint8Array> {
      for (let from = 0; from < bytes.length; ) {
        if (into === undefined || fill === into.length) {
          into = buffers.take() ?? (await buffers.acquire())
          self.lentBuffers.push(into)
          fill = 0
        }
        const n = bytes.copy(into, fill, from)
        yield into.subarray(fill, fill + n)
        fill += n
        from += n
      }
    }
    async function* body(): AsyncGenerator<Uint8Array> {
      const step = 64 * 1024
      for (let at = 0; at < slice.length; at += step) {
        const chunkEnd = Math.min(slice.length, at + step)
        if (fault.dropAfter !== undefined && chunkEnd > fault.dropAfter) {
          const part = slice.subarray(at, Math.max(at, fault.dropAfter))
          if (part.length > 0) {
            self.bytesServed += part.length
            yield part
          }
          throw new HaulError('HAUL_SOURCE', 'connection dropped', { transient: true, source: self.label })
        }
        if (fault.stallAfter !== undefined && chunkEnd > fault.stallAfter) {
          await new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }))
        }
        request.signal.throwIfAborted()
        self.bytesServed += chunkEnd - at
        self.onServe(self.bytesServed)
        if (self.lend && request.buffers !== undefined) yield* lent(slice.subarray(at, chunkEnd), request.buffers)
        else yield slice.subarray(at, chunkEnd)
        await new Promise((r) => setImmediate(r))
      }
    }
    return {
      info: { size: this.data.length, ranges: this.ranges, ...(this.validator === undefined ? {} : { validator: this.validator }) },
      offset,
      body: body(),
    }
  }
}

export { testBytes } from '@haul/testkit'
