/**
 * @haul/ipfs — download IPFS content by CID from trustless gateways, trusting none of them:
 * every block is hashed against its CID before a byte of it is written, gateways rotate, a lying
 * one is dropped, and the file is committed atomically by @haul/core's transaction.
 *
 * @example
 * ```ts
 * import { download } from '@haul/ipfs'
 * const result = await download('ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', {
 *   output: './model.onnx',
 *   gateways: ['https://trustless-gateway.link'],
 *   onEvent: (e) => { if (e.event === 'progress') console.log(e.bytes, e.total) },
 * })
 * console.log(result.path, result.sha256)
 * ```
 * @packageDocumentation
 */
export { download, resolveGateways } from './download.js'
export type { IpfsDownloadOptions } from './download.js'
export { GatewaySource } from './gateway-source.js'
export type { GatewaySourceOptions } from './gateway-source.js'
export type { TransportOptions, HttpTrace, HttpRequestTrace, HttpResponseTrace, Transport } from '@haul/http'
export { parseIpfsInput } from './input.js'
export type { IpfsInput } from './input.js'
export { DEFAULT_GATEWAYS, DEFAULT_MAX_BLOCK_BYTES } from './defaults.js'
export * from '@haul/core/common'
