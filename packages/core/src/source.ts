/**
 * The interface a driver implements so that core's transaction can pull bytes from it.
 *
 * A Source knows one remote copy of the bytes (one URL, one gateway+CID, one S3 object…).
 * Core owns everything else: locking, staging, the journal, retries, rotation between
 * sources, segments, verification and commit. A driver only answers "give me the bytes from
 * offset X (up to Y), and tell me what you know about the remote".
 */

/** What a source knows about the remote object. */
export interface RemoteInfo {
  /** Total size in bytes, when the source knows it. */
  size?: number
  /**
   * An opaque string that changes whenever the remote content changes (a strong ETag, a
   * Last-Modified date, a CID, an S3 VersionId…). Recorded in the journal and handed back on
   * resume so the source can make its read conditional.
   */
  validator?: string
  /** The source can start a read at any offset and stop at any end (resume, segments). */
  ranges: boolean
  /** A file name the remote suggests (Content-Disposition, a UnixFS path segment). Untrusted. */
  fileName?: string
}

/** One read that core asks of a source. */
export interface ReadRequest {
  /** First byte wanted. */
  offset: number
  /** One past the last byte wanted; absent means to the end. */
  end?: number
  /**
   * The validator the journal recorded for this source when it wrote the bytes before
   * `offset`. A source that can make the read conditional (HTTP If-Range) must then either
   * return the range unchanged, or restart at 0 with the new content.
   */
  validator?: string
  /** Aborts the read (core uses it for stalls, segment re-splits and the caller's signal). */
  signal: AbortSignal
  /**
   * The caller is done with each chunk of the body once it asks for the next one (it copies what
   * it keeps), so the source may reuse a chunk's memory for a later chunk. Core's transaction
   * reads this way. Absent or false: every chunk stays valid for as long as the caller holds it.
   */
  reuseChunks?: boolean
  /**
   * Memory the source may read the body into, so that its bytes reach the disk and the hasher
   * without a copy. A source that uses it takes empty buffers here and fills each from its start;
   * the chunks it yields are then views of them, in order. The caller owns every buffer that a
   * yielded chunk lies in and gives back the ones it never saw once the read is over. After
   * yielding a chunk of a buffer, the source writes into that buffer only past the chunk's end,
   * and only until the buffer is full or it yields a chunk of another buffer; it never writes into
   * one once its body is done or abandoned. Sources may ignore it (chunks are copied then).
   */
  buffers?: BufferLender
}

/** Buffers lent to a source for one read (see {@link ReadRequest.buffers}). */
export interface BufferLender {
  /** An empty buffer now, or undefined when all are out (then reading should wait for {@link acquire}). */
  take(): Buffer | undefined
  /** An empty buffer once one is free. */
  acquire(): Promise<Buffer>
  /**
   * How many buffers a read that paused for lack of one may gather before it reads on: one pause
   * for several buffers instead of one each (a socket's pause and resume stop and reopen its TCP
   * window). More would keep the other connections sharing the pool waiting. Absent: 1.
   */
  readonly gather?: number
}

/** What a source answers to a read. */
export interface ReadResponse {
  /** What the source learned about the remote while answering. */
  info: RemoteInfo
  /**
   * Where the body's first byte belongs: the requested offset, or 0 when the source had to
   * start over (no range support, content changed). Any other value is a driver bug.
   */
  offset: number
  /**
   * The bytes, in order, starting at `offset`. A driver that verifies content (IPFS) yields only
   * verified bytes. Breaking out of the iteration must release the connection.
   */
  body: AsyncIterable<Uint8Array>
}

/** A remote copy of the bytes. */
export interface Source {
  /** Identity recorded in the journal: the URL, `ipfs://CID`, `s3://bucket/key`… */
  readonly id: string
  /** A human label for events and errors (a mirror URL, a gateway origin). */
  readonly label: string
  /** Start a read. Errors are HaulErrors; set `transient` when trying again may help. */
  read(request: ReadRequest): Promise<ReadResponse>
  /**
   * Learn the remote's info without transferring the body (HTTP HEAD). Optional: core
   * otherwise learns it from the first read.
   */
  probe?(signal: AbortSignal): Promise<RemoteInfo>
  /** Release pooled connections. Called once when the transaction ends. */
  close?(): Promise<void>
}
