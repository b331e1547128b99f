/**
 * @haul/core — the download transaction every haul driver uses:
 * lock → stage → fetch (resume, retry, rotate sources) → verify → atomic commit.
 *
 * @example
 * ```ts
 * import { runDownload, type Source } from '@haul/core'
 * const result = await runDownload([mySource], { output: '/data/file.bin', sha256: '…' })
 * ```
 * @packageDocumentation
 */
export { HaulError, isHaulError } from './errors.js'
export type { HaulErrorCode, HaulErrorFacts } from './errors.js'
export type {
  HaulEvent,
  StartEvent,
  WaitEvent,
  ProgressEvent,
  RetryEvent,
  SourceEvent,
  DoneEvent,
  ErrorEvent,
  EventListener,
} from './events.js'
export type { Source, RemoteInfo, ReadRequest, ReadResponse } from './source.js'
export type { DownloadOptions, DownloadResult, DigestOptions } from './options.js'
export * from './defaults.js'
export { backoffDelay, parseRetryAfter, isTransientStatus, sleep } from './retry.js'
export type { BackoffOptions } from './retry.js'
export { acquireLock } from './lock.js'
export type { DestinationLock, LockOptions } from './lock.js'
export { runDownload } from './transaction.js'
export { streamDownload } from './stream-download.js'
export type { StreamDownloadOptions, StreamDownloadResult } from './stream-download.js'
export { RateLimiter, withRateLimit } from './rate-limit.js'
export type { RateLimiterOptions } from './rate-limit.js'
export {
  parseExpectedDigests,
  parseIntegrity,
  parseMultihash,
  parseChecksum,
  findMismatch,
  DIGEST_BYTES,
} from './digest.js'
export type { DigestAlgorithm, ExpectedDigest } from './digest.js'
export { MultiHasher } from './hasher.js'
export { digestBlock } from './block-digest.js'
export type { BlockDigest } from './block-digest.js'
export { checkFreeSpace } from './preflight.js'
export { formatBytes } from './format.js'
export { stagingDirFor, lockPathFor, listStaged } from './staging.js'
export { readJournal } from './journal.js'
export type { JournalState, HeadRecord, DataRecord } from './journal.js'
export { abortedError, fsError } from './errors.js'
export { Cache, defaultCacheDir } from './cache.js'
export type { CacheEntry, CacheVerifyReport, CacheGcReport } from './cache.js'
