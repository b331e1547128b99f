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
export type { Source, RemoteInfo, ReadRequest, ReadResponse, BufferLender } from './source.js'
export type { DownloadOptions, DownloadResult, DigestOptions } from './options.js'
export * from './defaults.js'
export { resolveOptions, OPTION_BOUNDS, MAX_CONNECTIONS, checkpointBytesFor, WRITE_BATCH_BYTES } from './resolve-options.js'
export type { ResolvedOptions, OptionBound } from './resolve-options.js'
export { backoffDelay, parseRetryAfter, isTransientStatus, sleep } from './fetch/retry.js'
export type { BackoffOptions } from './fetch/retry.js'
export { runDownload } from './transaction.js'
export {
  parseExpectedDigests,
  parseIntegrity,
  parseMultihash,
  parseChecksum,
  findMismatch,
  DIGEST_BYTES,
} from './verify/digest.js'
export type { DigestAlgorithm, ExpectedDigest } from './verify/digest.js'
export { MultiHasher } from './verify/hasher.js'
export { digestBlock } from './verify/block-digest.js'
export type { BlockDigest } from './verify/block-digest.js'
export { checkFreeSpace } from './stage/preflight.js'
export { formatBytes } from './format.js'
export { listStaged } from './stage/list-staged.js'
export type { StagedEntry } from './stage/list-staged.js'
export { readJournal } from './stage/journal.js'
export type { JournalState, HeadRecord, DataRecord } from './stage/journal.js'
export { abortedError, fsError } from './errors.js'
export { Cache } from './cache/cache.js'
export { defaultCacheDir } from './cache/cache-dir.js'
export type { CacheEntry, CacheVerifyReport, CacheGcReport } from './cache/maintenance.js'
