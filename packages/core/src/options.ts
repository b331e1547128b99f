import type { EventListener } from './events.js'
import type { RateLimiter } from './rate-limit.js'

/** Expected content, in any of the accepted spellings. All given digests must match. */
export interface DigestOptions {
  /** Hex SHA-256 of the whole file. */
  sha256?: string
  /** Hex SHA-512 of the whole file. */
  sha512?: string
  /** Hex SHA-1 of the whole file (weak; prefer sha256). */
  sha1?: string
  /** Hex MD5 of the whole file (weak; prefer sha256). */
  md5?: string
  /** Subresource Integrity string: `sha256-<base64>`, several separated by spaces allowed. */
  integrity?: string
  /** `ALGO:HEX`, e.g. `sha256:9f86…` or `blake3:…`. */
  checksum?: string
  /** A multihash, hex or base58btc (`Qm…`/`z…`). */
  multihash?: string
}

/** Options every driver's `download()` accepts. */
export interface DownloadOptions extends DigestOptions {
  /** The file to write. Required. */
  output: string
  /** Expected size in bytes; a source that disagrees fails. */
  size?: number
  /**
   * Parallel connections for this file (segments), when the source supports ranges.
   * @default 1
   */
  connections?: number
  /**
   * Retries after a failed attempt; the count restarts whenever an attempt made progress.
   * @default 5
   */
  retries?: number
  /**
   * No byte for this long counts as a stall: the connection is dropped and resumed.
   * @default 30000
   */
  stallTimeoutMs?: number
  /**
   * Average speed below this over `lowSpeedWindowMs` counts as a stall (curl's --speed-limit).
   * 0 turns the check off.
   * @default 1024
   */
  lowSpeedBytesPerSecond?: number
  /**
   * Window for `lowSpeedBytesPerSecond`.
   * @default 30000
   */
  lowSpeedWindowMs?: number
  /**
   * Caps the transfer in bytes per second over every connection of this download, or shares a
   * {@link RateLimiter} (one cap for several downloads, e.g. a batch). A capped download turns
   * the low-speed stall check off unless `lowSpeedBytesPerSecond` is given.
   * @default undefined (no cap)
   */
  rateLimit?: number | RateLimiter
  /**
   * Fail with HAUL_LOCK_BUSY instead of waiting when another process holds the destination.
   * @default false
   */
  noWait?: boolean
  /** Backoff tuning. */
  backoff?: {
    /** @default 500 */
    baseMs?: number
    /** @default 30000 */
    capMs?: number
  }
  /** Aborts the download; the partial is kept for resume. */
  signal?: AbortSignal
  /** Receives the same events `haul --json` prints. */
  onEvent?: EventListener
}

/** What a successful download returns. */
export interface DownloadResult {
  /** Absolute path of the committed file. */
  path: string
  /** Its size in bytes. */
  bytes: number
  /** Hex SHA-256 of the file (always computed). */
  sha256: string
  /** Bytes that were already on disk from an earlier run and were not fetched again. */
  resumedFrom: number
  /** The source that served the (last) bytes, or the one the file was committed from. */
  source: string
  /** True when the destination already held the file and nothing was fetched. */
  cached: boolean
}
