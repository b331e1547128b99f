import { constants } from 'node:os'
import { sleep } from './fetch/retry.js'

/** libuv on Node 20 has no name for ESTALE: its `code` is "Unknown system error -116". */
const ESTALE = -(constants.errno.ESTALE ?? 116)

/**
 * Whether `err` says that a name, or a file handle, no longer leads anywhere: ENOENT, or ESTALE
 * (NFS and FUSE: the file was removed or replaced on the server by another host). On a folder
 * that other hosts share, either can come from their clean-up between any two of our calls, and
 * locks do not prevent it: an expected race to handle, never a bug.
 */
export function isGone(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined
  return e?.code === 'ENOENT' || e?.code === 'ESTALE' || e?.errno === ESTALE
}

/** Attempts of one racing operation before giving up; {@link raceDelay} spreads them over ~20 s. */
export const MAX_RACE_ATTEMPTS = 100

/**
 * How long to wait before retry number `attempt` (1-based) of an operation that lost a race on
 * a shared folder. The first retries are immediate (a local race is over at once); later ones
 * back off up to 250 ms, because a network folder's caches keep answering from the stale name
 * for about a second (sshfs, NFS's lookup cache) and retrying at once would only meet it again.
 */
export function raceDelay(attempt: number): number {
  return attempt <= 2 ? 0 : Math.min(250, 5 * 2 ** (attempt - 3))
}

/**
 * Runs `operation` until it succeeds or fails with something other than a lost race
 * (`isRace`, by default {@link isGone}); bounded by {@link MAX_RACE_ATTEMPTS}, after which the
 * last error is thrown. Waiting for the stale caches to expire is the only way past them.
 */
export async function retryRace<T>(operation: (attempt: number) => Promise<T>, isRace: (err: unknown) => boolean = isGone, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt)
    } catch (err) {
      if (!isRace(err) || attempt + 1 >= MAX_RACE_ATTEMPTS) throw err
    }
    const delay = raceDelay(attempt + 1)
    if (delay > 0) await sleep(delay, signal)
  }
}
