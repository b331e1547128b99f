import { statusText, type HttpTrace } from '@haul/http'

/** Headers that explain what haul asked for and what it made of the answer. */
const REQUEST_HEADERS = ['range', 'if-range']
const RESPONSE_HEADERS = ['content-length', 'content-range', 'content-type', 'etag', 'last-modified', 'accept-ranges', 'location', 'retry-after']

function picked(headers: Readonly<Record<string, string | string[]>>, names: readonly string[]): string {
  return names.flatMap((n) => (headers[n] === undefined ? [] : [`  ${n}: ${String(headers[n])}`])).join('')
}

/**
 * One line for `-v`: `> GET URL  range: …` for a request, `< 206 Partial Content URL (12 ms)
 * content-range: …` for a response, with the headers that matter for resuming and redirects.
 */
export function describeTrace(trace: HttpTrace): string {
  if (trace.type === 'request') return `> ${trace.method} ${trace.url}${picked(trace.headers, REQUEST_HEADERS)}`
  return `< ${trace.status} ${statusText(trace.status) ?? ''} ${trace.url} (${trace.ms} ms)${picked(trace.headers, RESPONSE_HEADERS)}`
}

