import { createRequire } from 'node:module'
import type { HttpTrace } from '@haul/http'

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
  return `< ${trace.status} ${reasonPhrase(trace.status)} ${trace.url} (${trace.ms} ms)${picked(trace.headers, RESPONSE_HEADERS)}`
}

/** Node's reason phrase for `status`; node:http is loaded only when a trace prints one. */
function reasonPhrase(status: number): string {
  return (createRequire(import.meta.url)('node:http') as typeof import('node:http')).STATUS_CODES[status] ?? ''
}
