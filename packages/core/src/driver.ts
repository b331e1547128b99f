/**
 * @haul/core/driver — what a driver author needs beyond the library surface: the destination
 * shell and commits (to commit something other than one file, e.g. a folder), and the helpers
 * a driver's own fetching uses.
 * @packageDocumentation
 */
export { withDestination } from './commit/destination.js'
export type { DestinationShellOptions, HeldDestination, ShellOutcome } from './commit/destination.js'
export { commitFolder } from './commit/commit-file.js'
export { recordDescribes } from './commit/commit-record.js'
export type { CommitRecord, Committed } from './commit/commit-record.js'
export { acquireLock } from './lock/lock.js'
export type { DestinationLock, LockOptions } from './lock/lock.js'
export { lockPathFor, stagingDirFor } from './stage/staging-paths.js'
export { ensureDir } from './ensure-dir.js'
