import type { EventListener } from './events.js'
import type { RateLimiter } from './fetch/rate-limit.js'
import type { LockKind } from './lock/lock.js'

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
  /**
   * Which lock guards the destination (see {@link LockKind}); every process sharing a
   * destination must use the same kind.
   * @default 'auto'
   */
  lockKind?: LockKind
  /**
   * Written bytes after which a datasync starts in the background, so the kernel writes the file
   * back while it downloads and the fsync before the commit has little left to do. 0 turns it off.
   * @default 16777216 (16 MiB); 0 when {@link fsync} is false
   */
  writebackBytes?: number
  /**
   * Hash on the process's worker thread (node:crypto digests), so hashing runs beside the
   * network and the disk; false hashes on the calling thread.
   * @default true
   */
  hashThread?: boolean
  /**
   * fsync the file before its rename and the folder after it, so that a power cut right after
   * `done` cannot lose the commit. false keeps the commit atomic against a crash of the process
   * (the destination holds the old file or the whole new one) but not against a power cut or a
   * kernel crash, which may leave the destination as it was: for scratch disks where speed
   * matters more, and to show what the fsyncs are for (apps/cli/test/power-cut.test.ts).
   * @default true
   */
  fsync?: boolean
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
