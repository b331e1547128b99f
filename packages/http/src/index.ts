/**
 * @haul/http — HTTP(S) downloads that land whole: resume with Range + If-Range, retries,
 * stall detection, mirrors and parallel segments, on undici.
 *
 * @example
 * ```ts
 * import { download, isHaulError } from '@haul/http'
 *
 * try {
 *   const result = await download('https://example.com/model.onnx', {
 *     output: '/models/model.onnx',
 *     sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
 *     mirrors: ['https://mirror.example.org/model.onnx'],
 *     connections: 4,
 *     onEvent: (e) => { if (e.event === 'progress') console.log(e.bytes, e.total) },
 *   })
 *   console.log(`${result.path}: ${result.bytes} bytes, sha256 ${result.sha256}`)
 * } catch (err) {
 *   if (isHaulError(err, 'HAUL_SOURCE')) console.error(err.message)
 *   else throw err
 * }
 * ```
 * @packageDocumentation
 */
export { download } from './download.js'
export type { HttpDownloadOptions } from './download.js'
export { HttpSource } from './http-source.js'
export type { HttpSourceOptions } from './http-source.js'
export { parseContentDisposition } from './content-disposition.js'
export type { ContentDisposition } from './content-disposition.js'
export { openNamed, suggestFileName } from './suggest-file-name.js'
export type { NamedUrl, SuggestFileNameOptions } from './suggest-file-name.js'
export { FirstAnswer, FIRST_ANSWER_MAX_BYTES } from './first-answer.js'
export { safeFileName } from './file-name.js'
export { createTransport, splitTransportOptions } from './transport.js'
export type { Transport, TransportOptions, TransportRequest, TransportResponse } from './transport.js'
export type { HttpTrace, HttpRequestTrace, HttpResponseTrace } from './trace.js'
export type { CaCertificates } from './trust.js'
export { statusError, statusText } from './errors.js'
export type { StatusFacts } from './errors.js'
export {
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MIRRORS,
  DEFAULT_HEADERS,
  DEFAULT_USER_AGENT,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_DNS_RETRIES,
  DEFAULT_INSECURE,
} from './defaults.js'
export * from '@haul/core/common'
