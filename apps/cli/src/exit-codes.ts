import type { HaulErrorCode } from '@haul/core'

/** The exit status for each error code (DESIGN.md, "Exit codes and error codes"). */
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
