/**
 * @haul/core — the download transaction every haul driver uses:
 * lock → stage → fetch (resume, retry, rotate sources) → verify → atomic commit.
 *
 * This entry point is for library users: {@link runDownload} with a {@link Source}, its options
 * and their bounds, events, errors, digests and the cache. What a driver author needs beyond
 * that (the destination shell, commits, retry helpers, block digests) is on `@haul/core/driver`.
 *
 * @example
 * ```ts
 * import { runDownload, type Source } from '@haul/core'
 * const result = await runDownload([mySource], { output: '/data/file.bin', sha256: '…' })
 * ```
 * @packageDocumentation
 */
export * from './common.js'
export { runDownload } from './transaction.js'
export { streamDownload } from './stream-download.js'
export type { StreamDownloadOptions, StreamDownloadResult } from './stream-download.js'
export { withRateLimit } from './fetch/rate-limit.js'
export * from './defaults.js'
export { resolveOptions, OPTION_BOUNDS, MAX_CONNECTIONS } from './resolve-options.js'
export type { ResolvedOptions, OptionBound } from './resolve-options.js'
export { LOCK_KINDS } from './lock/lock.js'
export { abortedError } from './errors.js'
export {
  parseExpectedDigests,
  parseIntegrity,
  parseMultihash,
  parseChecksum,
  findMismatch,
  DIGEST_BYTES,
} from './verify/digest.js'
export type { DigestAlgorithm, ExpectedDigest } from './verify/digest.js'
export { formatBytes } from './format.js'
export { listStaged } from './stage/list-staged.js'
export type { StagedEntry } from './stage/list-staged.js'
export type { JournalState, HeadRecord, DataRecord } from './stage/journal.js'
export { defaultCacheDir } from './cache/cache-dir.js'
export type { CacheEntry, CacheVerifyReport, CacheGcReport, GcOptions } from './cache/maintenance.js'
export { filesystemKind } from './lock/fs-kind.js'
export type { FilesystemKind } from './lock/fs-kind.js'
