import { createHash } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

/**
 * Staging lives beside the destination (same directory, so the final rename never crosses a
 * filesystem): `.NAME.haul/` holds one directory per writer, each with the partial `data` and its
 * `journal` (and, where the destination is locked the per-destination way, the lock file). Under
 * a folder lock (lock/folder-lock.ts) a new writer's data starts as `.NAME.haul.TAG.part` beside
 * the destination, and `.NAME.haul/` is made only when a journal must go to disk.
 *
 * Correctness does not rest on the lock (flock/OFD can silently succeed on network filesystems):
 * every writer writes only its own files (its directory, or a partial made exclusively under its
 * own tag), and takes over an orphan's directory by one atomic rename, which exactly one process
 * can win. A directory is an orphan only when its writer, named in the directory's name, is known
 * dead (same host, pid gone or reused).
 */

/** Longest destination name used as is in the staging name; longer ones are shortened + hashed. */
const MAX_PLAIN_NAME_BYTES = 200

/** The hidden staging directory for a destination (beside it, so the rename stays on one filesystem). */
export function stagingDirFor(destination: string): string {
  const name = basename(destination)
  if (Buffer.byteLength(name) <= MAX_PLAIN_NAME_BYTES) return join(dirname(destination), `.${name}.haul`)
  // A 255-byte name would not fit with the dot and suffix: keep a readable prefix and a hash.
  const short = Array.from(name).slice(0, 100).join('')
  return join(dirname(destination), `.${short}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}.haul`)
}

/** The lock file for a destination. */
export function lockPathFor(destination: string): string {
  return join(stagingDirFor(destination), 'lock')
}

/**
 * A new writer's lone partial under a folder lock (lock/folder-lock.ts): beside the destination,
 * named after its staging folder and `tag` (each writer its own file, made exclusively: a lock
 * file removed by hand must not let two writers share one), noted in the lock file so that the
 * next holder removes what a killed one left. The staging folder is made only for a journal.
 */
export function besidePartialFor(destination: string, tag: string): string {
  return `${stagingDirFor(destination)}.${tag}${BESIDE_SUFFIX}`
}

/** Ending of a partial beside its destination. */
export const BESIDE_SUFFIX = '.part'

/** Whether `name` is the base name of one of `destination`'s partials beside it (and nothing else). */
export function isBesidePartialOf(destination: string, name: string): boolean {
  const stem = `${basename(stagingDirFor(destination))}.`
  return name.startsWith(stem) && name.endsWith(BESIDE_SUFFIX) && /^[0-9a-f]+$/.test(name.slice(stem.length, -BESIDE_SUFFIX.length))
}
