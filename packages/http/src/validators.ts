import type { IncomingHttpHeaders } from 'node:http'
import { header } from './headers.js'

/**
 * How old a Last-Modified must be (by the server's clock) before haul sends it as an If-Range
 * date. RFC 9110 lets a server treat any date If-Range as a mismatch; Apache does so for a date
 * within 60 s of the file's mtime (ap_condition_if_range), answering 200 with the whole file. A
 * younger date goes as a bare Range instead, and the 206's own Last-Modified is compared.
 */
export const IF_RANGE_DATE_MIN_AGE_MS = 60_000

/**
 * RFC 9110 §8.8.2.2: a Last-Modified is a strong validator only when the server's Date is at
 * least a second later — otherwise the file may change again within the same second and keep
 * the date. Apache marks its ETag weak in that second for the same reason.
 */
const STRONG_DATE_MIN_AGE_MS = 1000

function strongETag(headers: IncomingHttpHeaders): string | undefined {
  const etag = header(headers, 'etag')?.trim()
  return etag !== undefined && /^"[^"]*"$/.test(etag) ? etag : undefined
}

function lastModified(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'last-modified')?.trim()
  return value !== undefined && !Number.isNaN(Date.parse(value)) ? value : undefined
}

/**
 * The value that identifies this version of the remote file, or undefined when the response has
 * none strong enough: a strong ETag, else a Last-Modified that the response's Date shows to be at
 * least a second old. A weak ETag (`W/"…"`) never qualifies: it says "equivalent", not "the same
 * bytes", and If-Range compares strongly, so it would never match anyway.
 */
export function validatorOf(headers: IncomingHttpHeaders): string | undefined {
  const etag = strongETag(headers)
  if (etag !== undefined) return etag
  const modified = lastModified(headers)
  const date = Date.parse(header(headers, 'date') ?? '')
  if (modified === undefined || Number.isNaN(date)) return undefined
  return date - Date.parse(modified) >= STRONG_DATE_MIN_AGE_MS ? modified : undefined
}

/** How far the server's clock (its Date header) is ahead of ours, in ms; undefined without a Date. */
export function serverClockOffset(headers: IncomingHttpHeaders): number | undefined {
  const date = Date.parse(header(headers, 'date') ?? '')
  return Number.isNaN(date) ? undefined : date - Date.now()
}

/**
 * The If-Range value to send with a Range for bytes recorded under `validator`, or undefined to
 * send a bare Range (and check the 206 with {@link sameVersion}). An ETag goes as is (weak ones
 * are never recorded, and never sent); a date only once it is {@link IF_RANGE_DATE_MIN_AGE_MS}
 * old by the server's clock, estimated as ours plus `clockOffsetMs`.
 */
export function ifRangeFor(validator: string, clockOffsetMs: number): string | undefined {
  if (validator.startsWith('"')) return validator
  if (validator.startsWith('W/')) return undefined
  const modified = Date.parse(validator)
  if (Number.isNaN(modified)) return undefined
  return Date.now() + clockOffsetMs - modified >= IF_RANGE_DATE_MIN_AGE_MS ? validator : undefined
}

/**
 * Whether a 206 is of the version `recorded` names, comparing like with like: a recorded ETag
 * with the response's strong ETag, a recorded date with its Last-Modified. When the request
 * carried `If-Range` (`conditional`), a 206 without that validator is the server's word that it
 * matched; without If-Range, a 206 that does not show the validator can't be trusted.
 */
export function sameVersion(recorded: string, headers: IncomingHttpHeaders, conditional: boolean): boolean {
  const current = recorded.startsWith('"') ? header(headers, 'etag')?.trim() : lastModified(headers)
  if (current === undefined || current === '') return conditional
  return recorded.startsWith('"') ? current === recorded : Date.parse(current) === Date.parse(recorded)
}
