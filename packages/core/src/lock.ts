// Placeholder: the lock helper replaces this file (see issue 3). The interface is fixed.
import { HaulError } from './errors.js'

/** Options for {@link acquireLock}. */
export interface LockOptions {
  /** Fail with HAUL_LOCK_BUSY instead of waiting. @default false */
  noWait?: boolean
  /** Stops waiting (rejects with HAUL_ABORTED). */
  signal?: AbortSignal
  /** Called once when the lock is held elsewhere and this call starts waiting. */
  onWait?: () => void
}

/** An exclusive, kernel-released lock on one destination. */
export interface DestinationLock {
  /** The lock file. */
  readonly path: string
  /** How it is held: an OFD lock on the file, or the abstract-socket fallback. */
  readonly kind: 'ofd' | 'socket'
  /**
   * The record the previous holder left when it released (e.g. "committed source X with digest
   * Y"), if this call waited for one. Lets a waiter skip a download that just landed.
   */
  readonly handedOver: string | undefined
  /** Hands `record` to waiters, removes the lock file race-free, and releases. */
  release(record?: string): Promise<void>
}

export async function acquireLock(_lockPath: string, _options: LockOptions = {}): Promise<DestinationLock> {
  throw new HaulError('HAUL_INTERNAL', 'lock not implemented yet')
}
