import type { IncomingHttpHeaders } from 'node:http'

/** One header's value; repeated headers are joined as HTTP allows. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** A `Content-Range: bytes a-b/total` value (total may be `*`). */
export interface ContentRange {
  start: number
  /** Inclusive, as on the wire. */
  end: number
  total?: number
}

/** Parses a satisfied byte Content-Range; undefined when malformed or inconsistent. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const m = value === undefined ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value)
  if (m === null) return undefined
  const start = Number(m[1])
  const end = Number(m[2])
  const total = m[3] === '*' ? undefined : Number(m[3])
  // Beyond 2^53 a Number no longer holds the exact offset: such a range can't be checked.
  if (!Number.isSafeInteger(end) || (total !== undefined && !Number.isSafeInteger(total))) return undefined
  if (end < start || (total !== undefined && end >= total)) return undefined
  return total === undefined ? { start, end } : { start, end, total }
}

/** A non-negative integer Content-Length, if the response has one. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const value = header(headers, 'content-length')
  return value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : undefined
}

/** Whether the server says it serves byte ranges. */
export function acceptsRanges(headers: IncomingHttpHeaders): boolean {
  return (header(headers, 'accept-ranges') ?? '').split(',').some((unit) => unit.trim().toLowerCase() === 'bytes')
}

/** A Content-Encoding that is not identity (the body would not be the file's bytes). */
export function encodingOf(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'content-encoding')?.trim().toLowerCase()
  return value === undefined || value === '' || value === 'identity' ? undefined : value
}
