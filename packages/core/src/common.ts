/**
 * @haul/core/common — what every driver package re-exports, so that its users need not depend
 * on @haul/core for the types a download takes and gives: errors, events, options, results, the
 * Source contract, and the cache. One list, used by this package's index and by each driver's.
 * @packageDocumentation
 */
export { Cache } from './cache/cache.js'
export type { CacheOptions } from './cache/cache.js'
export { HaulError, isHaulError } from './errors.js'
export type { HaulErrorCode, HaulErrorFacts } from './errors.js'
export type {
  HaulEvent,
  StartEvent,
  WaitEvent,
  ProgressEvent,
  RetryEvent,
  RestartEvent,
  SourceEvent,
  DoneEvent,
  ErrorEvent,
  NoticeEvent,
  EventListener,
} from './events.js'
export type { DownloadOptions, DownloadResult, DigestOptions } from './options.js'
export { RateLimiter } from './fetch/rate-limit.js'
export type { RateLimiterOptions } from './fetch/rate-limit.js'
export type { LockKind } from './lock/lock.js'
export type { Source, RemoteInfo, ReadRequest, ReadResponse, BufferLender } from './source.js'
