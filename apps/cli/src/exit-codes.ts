import { HaulError, isHaulError, type HaulErrorCode } from '@haul/core'

/** The exit status for each error code (docs/DESIGN.md, "Exit codes and error codes"). */
export const EXIT_CODES: Readonly<Record<HaulErrorCode, number>> = {
  HAUL_INTERNAL: 1,
  HAUL_USAGE: 2,
  HAUL_SOURCE: 3,
  HAUL_INTEGRITY: 4,
  HAUL_NO_SPACE: 5,
  HAUL_IO: 6,
  HAUL_LOCK_BUSY: 7,
  HAUL_ABORTED: 130,
}

/** SIGTERM ends with 143, SIGINT (and other aborts) with 130. */
export function exitCodeFor(code: HaulErrorCode, signal?: NodeJS.Signals): number {
  if (code === 'HAUL_ABORTED') return signal === 'SIGTERM' ? 143 : 130
  return EXIT_CODES[code]
}

/**
 * Batch failures, most serious first: the batch exits with the first of these that any file
 * failed with. A bug beats everything; bytes that did not match beat a local disk problem,
 * which beats a remote one; a busy lock and a bad line are the least alarming (the run can
 * simply be repeated or the line fixed). SIGINT/SIGTERM (130/143) override the order.
 */
export const SEVERITY: ReadonlyArray<HaulErrorCode> = ['HAUL_INTERNAL', 'HAUL_INTEGRITY', 'HAUL_IO', 'HAUL_NO_SPACE', 'HAUL_SOURCE', 'HAUL_LOCK_BUSY', 'HAUL_USAGE', 'HAUL_ABORTED']

/** The most serious of `codes` by {@link SEVERITY}; undefined when there is none. */
export function mostSevere(codes: Iterable<HaulErrorCode>): HaulErrorCode | undefined {
  let best: HaulErrorCode | undefined
  for (const code of codes) if (best === undefined || SEVERITY.indexOf(code) < SEVERITY.indexOf(best)) best = code
  return best
}

/** The HaulError behind `err`: itself; HAUL_ABORTED when a signal stopped the run; else a bug. */
export function asHaulError(err: unknown, stoppedBy: NodeJS.Signals | undefined): HaulError {
  if (isHaulError(err)) return err
  if (stoppedBy !== undefined) return new HaulError('HAUL_ABORTED', `Stopped by ${stoppedBy}; the partial download is kept and the next run resumes it.`, { cause: err })
  return new HaulError('HAUL_INTERNAL', `Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { cause: err })
}
