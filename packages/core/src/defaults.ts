/** Default values for every option, in one place. */

/** Retries after a failed attempt, counted per stretch without progress. */
export const DEFAULT_RETRIES = 5
/** First backoff ceiling; the delay is random in [0, ceiling) (full jitter). */
export const DEFAULT_BACKOFF_BASE_MS = 500
/** The backoff ceiling never grows beyond this. */
export const DEFAULT_BACKOFF_CAP_MS = 30_000
/** A Retry-After longer than this fails the attempt instead of waiting. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 5 * 60_000
/** No byte for this long on a connection counts as a stall. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000
/** Below this average speed over {@link DEFAULT_LOW_SPEED_WINDOW_MS} counts as a stall. */
export const DEFAULT_LOW_SPEED_BYTES_PER_SECOND = 1024
/** Window for the minimum-speed check. */
export const DEFAULT_LOW_SPEED_WINDOW_MS = 30_000
/** A rate limiter's burst, as time at its rate: short, so a capped transfer stays even within a second. */
export const DEFAULT_RATE_BURST_MS = 100
/** Parallel connections for one file. */
export const DEFAULT_CONNECTIONS = 1
/** Segments smaller than this are not split further. */
export const DEFAULT_MIN_SEGMENT_BYTES = 1024 * 1024
/** Bytes that a journal record may cover before the next one is appended. */
export const DEFAULT_CHECKPOINT_BYTES = 2 * 1024 * 1024
/**
 * Longest time between journal records while bytes arrive (received bytes are written out by
 * then too; the first ones at once). A SIGKILL loses about this much transfer, so a process
 * killed every few hundred milliseconds still makes progress: 60 kills at random 60–460 ms into
 * a 24 MiB download at 12 MiB/s fetched 1.12× the file in all. A record is one short append
 * (those that pile up while a write is in flight go out together), so a hundred a second cost little.
 */
export const DEFAULT_CHECKPOINT_MS = 10
/** Free space left over after the download, on top of the remaining bytes. */
export const DEFAULT_SPACE_MARGIN_BYTES = 1024 * 1024
/** Interval between progress events. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 200
/** Bytes buffered per connection before writes apply backpressure. */
export const DEFAULT_WRITE_BUFFER_BYTES = 4 * 1024 * 1024
/**
 * Written bytes after which a datasync starts in the background (one at a time), so the disk
 * writes the file back while it downloads. Small enough that it seldom idles between two: 1 GiB
 * durably committed, A/B of 6 rounds: 8 MiB 1.59 s, 16 MiB 1.59, 32 MiB 1.63, 64 MiB 1.73, 256 MiB 1.89.
 */
export const DEFAULT_WRITEBACK_BYTES = 16 * 1024 * 1024
/** The lock kind: an OFD lock, falling back to the abstract socket. */
export const DEFAULT_LOCK_KIND = 'auto'
/**
 * How long `cache gc` keeps a blob it retired (renamed aside) before removing it for good, so a
 * download on another host sharing the cache that was about to link it can still take it back.
 */
export const DEFAULT_CACHE_GC_GRACE_MS = 5000
/**
 * A writer of another host sharing the folder (whose process can't be looked up from here) is
 * taken for dead once nothing in its staging folder has changed for this long: longer than a
 * live writer ever goes without journaling (the longest Retry-After it honours, 5 min, plus a
 * stall, 30 s), with room for clocks that disagree. Its partial is then removed when the
 * destination holds what was asked for.
 */
export const DEFAULT_FOREIGN_STAGE_GRACE_MS = 15 * 60_000
