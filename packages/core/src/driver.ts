/**
 * @haul/core/driver — what a driver author needs beyond the library surface (`@haul/core`):
 * the destination shell and the commits, to commit something other than one file (a folder);
 * the lock; and the helpers a driver's own fetching uses (retry, HTTP status classes, errors
 * for fs failures, block digests).
 * @packageDocumentation
 */
export { withDestination } from './commit/destination.js'
export type { DestinationShellOptions, HeldDestination, ShellOutcome } from './commit/destination.js'
export { commitFolder } from './commit/commit-file.js'
export type { CommitOptions } from './commit/commit-file.js'
export { recordDescribes } from './commit/commit-record.js'
export type { CommitRecord, Committed } from './commit/commit-record.js'
export { acquireDestinationLock, acquireLock } from './lock/lock.js'
export type { DestinationLock, LockOptions } from './lock/lock.js'
export { besidePartialFor, lockPathFor, stagingDirFor } from './stage/staging-paths.js'
export { FOLDER_LOCK_NAME } from './lock/folder-lock.js'
export { checkFreeSpace } from './stage/preflight.js'
export { ensureDir } from './ensure-dir.js'
export { fsError } from './errors.js'
export { backoffDelay, parseRetryAfter, isTransientStatus, sleep } from './fetch/retry.js'
export type { BackoffOptions } from './fetch/retry.js'
export { MultiHasher } from './verify/hasher.js'
export { digestBlock } from './verify/block-digest.js'
export { startHashThread } from './verify/hash-thread.js'
export type { BlockDigest } from './verify/block-digest.js'
