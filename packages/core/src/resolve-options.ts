import { resolve } from 'node:path'
import * as D from './defaults.js'
import { HaulError } from './errors.js'
import type { BackoffOptions } from './fetch/retry.js'
import { checkLockKind, type LockKind } from './lock/lock.js'
import type { DownloadOptions } from './options.js'
import { parseExpectedDigests, type ExpectedDigest } from './verify/digest.js'

/** An option's default and its inclusive bounds. */
export interface OptionBound {
  readonly default: number
  readonly min: number
  readonly max: number
}

/** Connections allowed for one file. */
export const MAX_CONNECTIONS = 64

/**
 * The bounds of every numeric download option, in one place: {@link resolveOptions} checks
 * against them, and a front end (the CLI's flags) should too instead of keeping its own copy.
 */
export const OPTION_BOUNDS = {
  connections: { default: D.DEFAULT_CONNECTIONS, min: 1, max: MAX_CONNECTIONS },
  retries: { default: D.DEFAULT_RETRIES, min: 0, max: 1000 },
  stallTimeoutMs: { default: D.DEFAULT_STALL_TIMEOUT_MS, min: 1, max: 86_400_000 },
  lowSpeedBytesPerSecond: { default: D.DEFAULT_LOW_SPEED_BYTES_PER_SECOND, min: 0, max: Number.MAX_SAFE_INTEGER },
  lowSpeedWindowMs: { default: D.DEFAULT_LOW_SPEED_WINDOW_MS, min: 1, max: 86_400_000 },
  writebackBytes: { default: D.DEFAULT_WRITEBACK_BYTES, min: 0, max: Number.MAX_SAFE_INTEGER },
} as const satisfies Record<string, OptionBound>

/** How often the whole download starts over from 0 (remote changed) before giving up. */
export const MAX_RESTARTS = 3

/** Bytes gathered from the network before one write; {@link D.DEFAULT_WRITE_BUFFER_BYTES} bounds the queued batches per connection. */
export const WRITE_BATCH_BYTES = 1024 * 1024
/** Pool buffers per connection: the write queue, one in flight, one filling. */
const POOL_BUFFERS_PER_CONNECTION = D.DEFAULT_WRITE_BUFFER_BYTES / WRITE_BATCH_BYTES + 2
/**
 * Buffers a paused read gathers before it reads on ({@link BufferLender.gather}): one fewer than
 * each connection's share, so connections that all wait hold less than the pool and whatever is
 * being written or hashed comes back to them (a waiting read holds one fewer than it gathers, its
 * writer at most one part-filled buffer: connections × 6 ≤ the pool). 1 GiB paced by the hashing:
 * 740–810 pauses → 50–140, median 1.38 s → 1.17 s (A/B, HAUL_FSYNC=0, 8 rounds).
 */
const GATHER_BUFFERS = POOL_BUFFERS_PER_CONNECTION - 1
/** Pool buffers beyond those: how far hashing may lag behind the disk. */
const POOL_BUFFERS_HASH_LAG = 2

/**
 * Bytes one connection writes between journal records: the checkpoint budget is shared by the
 * connections, so a kill costs about the same whatever their number; at least 1 MiB.
 */
export function checkpointBytesFor(connections: number): number {
  return Math.max(1024 * 1024, Math.floor(D.DEFAULT_CHECKPOINT_BYTES / connections))
}

/**
 * Piece size for several connections: about eight pieces per connection, so the bytes still
 * waiting for in-order hashing at the end are a few pieces; at least 4 MiB, so the request each
 * piece costs (a round trip) stays small next to its transfer, unless the file is too small to
 * give every connection that much; at most 64 MiB.
 */
export function pieceBytesFor(size: number, connections: number): number {
  const MiB = 1024 * 1024
  return Math.min(64 * MiB, Math.max(D.DEFAULT_MIN_SEGMENT_BYTES, Math.min(Math.max(4 * MiB, Math.ceil(size / (connections * 8))), Math.ceil(size / connections))))
}

/** {@link DownloadOptions} checked, with every default filled in and every derived size computed. */
export interface ResolvedOptions {
  /** Absolute path of the file to write. */
  readonly destination: string
  readonly expected: ExpectedDigest[]
  readonly connections: number
  readonly retries: number
  readonly stallTimeoutMs: number
  readonly lowSpeedBytesPerSecond: number
  readonly lowSpeedWindowMs: number
  /** The expected size, when given. */
  readonly size: number | undefined
  readonly noWait: boolean
  readonly backoff: BackoffOptions | undefined
  /** Bytes a connection writes between journal records. */
  readonly checkpointBytes: number
  /** Size and number of the write buffers shared by the connections and the hasher. */
  readonly bufferBytes: number
  readonly buffers: number
  /** Buffers a paused read gathers before it reads on. */
  readonly gatherBuffers: number
  /** Written bytes between background datasyncs; 0: none. */
  readonly writebackBytes: number
  readonly lockKind: LockKind
  readonly hashThread: boolean
  readonly fsync: boolean
}

function bounded(value: number | undefined, name: keyof typeof OPTION_BOUNDS): number {
  const { default: fallback, min, max } = OPTION_BOUNDS[name]
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) throw new HaulError('HAUL_USAGE', `${name} must be a whole number from ${min} to ${max}, got ${String(value)}.`)
  return v
}

/**
 * Checks a download's options and fills in the defaults: the one place that knows every bound
 * and default of a transaction.
 * @throws HaulError `HAUL_USAGE` for a missing output, a malformed digest, or a value out of bounds.
 */
export function resolveOptions(options: DownloadOptions): ResolvedOptions {
  if (typeof options.output !== 'string' || options.output === '') throw new HaulError('HAUL_USAGE', 'The output path is required.')
  const expected = parseExpectedDigests(options)
  const connections = bounded(options.connections, 'connections')
  const retries = bounded(options.retries, 'retries')
  const stallTimeoutMs = bounded(options.stallTimeoutMs, 'stallTimeoutMs')
  const lowSpeedBytesPerSecond = bounded(options.lowSpeedBytesPerSecond, 'lowSpeedBytesPerSecond')
  const lowSpeedWindowMs = bounded(options.lowSpeedWindowMs, 'lowSpeedWindowMs')
  const fsync = options.fsync ?? true
  // The background writeback only makes the commit's fsync cheap: without that fsync it would
  // make the disk write the file during the download for nothing (1 GiB: 1.1 s → 1.9 s here).
  const writebackBytes = options.writebackBytes === undefined && !fsync ? 0 : bounded(options.writebackBytes, 'writebackBytes')
  const lockKind = checkLockKind(options.lockKind ?? D.DEFAULT_LOCK_KIND)
  if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size < 0)) throw new HaulError('HAUL_USAGE', `size must be a byte count, got ${options.size}.`)
  return {
    destination: resolve(options.output),
    expected,
    connections,
    retries,
    stallTimeoutMs,
    lowSpeedBytesPerSecond,
    lowSpeedWindowMs,
    size: options.size,
    noWait: options.noWait ?? false,
    backoff: options.backoff,
    checkpointBytes: checkpointBytesFor(connections),
    bufferBytes: WRITE_BATCH_BYTES,
    buffers: connections * POOL_BUFFERS_PER_CONNECTION + POOL_BUFFERS_HASH_LAG,
    gatherBuffers: GATHER_BUFFERS,
    writebackBytes,
    lockKind,
    hashThread: options.hashThread ?? true,
    fsync,
  }
}
