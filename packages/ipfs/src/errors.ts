import { HaulError } from '@haul/core'

/** The gateway sent bytes that do not prove what they claim: drop it for the rest of the download. */
export function integrityError(message: string, source: string, cause?: unknown): HaulError {
  return new HaulError('HAUL_INTEGRITY', message, { source, transient: false, ...(cause === undefined ? {} : { cause }) })
}
