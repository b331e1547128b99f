/**
 * Stable error codes. Callers match on `code`, never on message text; only the CLI maps codes
 * to exit statuses.
 */
export type HaulErrorCode =
  | 'HAUL_INTERNAL'
  | 'HAUL_USAGE'
  | 'HAUL_SOURCE'
  | 'HAUL_INTEGRITY'
  | 'HAUL_NO_SPACE'
  | 'HAUL_IO'
  | 'HAUL_LOCK_BUSY'
  | 'HAUL_ABORTED'

/** Facts an error may carry, so callers need not parse messages. */
export interface HaulErrorFacts {
  /** The URL, CID or other source identity the error is about. */
  source?: string
  /** HTTP status (or gateway status) that caused the error. */
  status?: number
  /** 1-based attempt number when the error ended a retry loop. */
  attempt?: number
  /** Local path involved (destination, staging file, lock file). */
  path?: string
  /** Expected digest, as given by the caller (e.g. `sha256:…`). */
  expected?: string
  /** Digest of the bytes actually received, same algorithm as `expected`. */
  actual?: string
  /** Bytes needed, for HAUL_NO_SPACE. */
  needed?: number
  /** Bytes available, for HAUL_NO_SPACE. */
  available?: number
  /**
   * Whether retrying the same operation may succeed (network hiccup, 503, stall).
   * Drivers set it; the retry loop in core reads it.
   */
  transient?: boolean
  /** Server-requested delay (Retry-After), in milliseconds. */
  retryAfterMs?: number
  /** The underlying error. */
  cause?: unknown
}

/** The one error type haul libraries throw. */
export class HaulError extends Error implements HaulErrorFacts {
  readonly code: HaulErrorCode
  source?: string
  status?: number
  attempt?: number
  path?: string
  expected?: string
  actual?: string
  needed?: number
  available?: number
  transient?: boolean
  retryAfterMs?: number

  constructor(code: HaulErrorCode, message: string, facts: HaulErrorFacts = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause })
    this.name = 'HaulError'
    this.code = code
    const { cause: _cause, ...rest } = facts
    Object.assign(this, rest)
  }
}

/** True when `err` is a HaulError (optionally with the given code). */
export function isHaulError(err: unknown, code?: HaulErrorCode): err is HaulError {
  return err instanceof HaulError && (code === undefined || err.code === code)
}

/** An AbortSignal fired: the partial download is kept for resume. */
export function abortedError(signal?: AbortSignal): HaulError {
  const reason = signal?.reason
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted'
  return new HaulError('HAUL_ABORTED', `Download aborted (${why}); the partial download is kept and the next run resumes it.`, {
    cause: reason,
  })
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT'])

/**
 * Turns a Node.js file-system error into a HaulError (ENOSPC → HAUL_NO_SPACE, anything else →
 * HAUL_IO). HaulErrors pass through unchanged.
 */
export function fsError(err: unknown, action: string, path: string): HaulError {
  if (err instanceof HaulError) return err
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code !== undefined && NO_SPACE.has(code)) {
    return new HaulError('HAUL_NO_SPACE', `No space left on the device while trying to ${action} ${path}; free some space and run again (the partial download is kept).`, { path, cause: err })
  }
  const detail = err instanceof Error ? err.message : String(err)
  return new HaulError('HAUL_IO', `Could not ${action} ${path}: ${detail}`, { path, cause: err })
}

/** What any failure of a download becomes: an abort when the caller aborted, a HaulError as it is, else a bug. */
export function toHaulError(err: unknown, signal: AbortSignal | undefined): HaulError {
  if (signal?.aborted === true) return isHaulError(err, 'HAUL_ABORTED') ? err : abortedError(signal)
  if (err instanceof HaulError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new HaulError('HAUL_INTERNAL', `Internal error: ${message}. Please report this.`, { cause: err })
}
