import { parseArgs } from 'node:util'
import { HaulError, parseExpectedDigests, type DigestOptions } from '@haul/core'
import { parseIpfsInput, type IpfsInput } from '@haul/ipfs'

/** A parsed, validated `haul get` invocation. */
export interface GetRequest {
  kind: 'http' | 'ipfs'
  source: string
  url?: URL
  ipfs?: IpfsInput
  output?: string
  digests: DigestOptions
  mirrors: string[]
  gateways?: string[]
  connections: number
  retries?: number
  stallTimeoutMs?: number
  headers: Record<string, string>
  noWait: boolean
  json: boolean
  quiet: boolean
}

function usage(message: string): HaulError {
  return new HaulError('HAUL_USAGE', message)
}

function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw usage(`${name} takes a whole number from ${min} to ${max}, got "${value}".`)
  return Number(value)
}

function httpUrl(text: string, what: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usage(`${what} "${text}" is not a valid URL.`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`${what} "${text}" must be http:// or https://.`)
  return url
}

/** Parses the arguments after `get`. Throws HAUL_USAGE (exit 2) before anything touches the network. */
export function parseGetArgs(argv: string[]): GetRequest {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        sha256: { type: 'string' },
        sha512: { type: 'string' },
        integrity: { type: 'string' },
        checksum: { type: 'string' },
        mirror: { type: 'string', multiple: true },
        gateway: { type: 'string', multiple: true },
        connections: { type: 'string', short: 'x' },
        retries: { type: 'string' },
        'stall-timeout': { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        'no-wait': { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
      },
    })
  } catch (err) {
    throw usage(`${(err as Error).message}. Run "haul --help" for usage.`)
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1) throw usage(positionals.length === 0 ? 'haul get needs a SOURCE (a URL, ipfs://CID, /ipfs/CID or a CID).' : `haul get takes one SOURCE, got ${positionals.length}: ${positionals.join(' ')}.`)
  const source = positionals[0]!
  const digests: DigestOptions = {
    ...(values.sha256 === undefined ? {} : { sha256: values.sha256 }),
    ...(values.sha512 === undefined ? {} : { sha512: values.sha512 }),
    ...(values.integrity === undefined ? {} : { integrity: values.integrity }),
    ...(values.checksum === undefined ? {} : { checksum: values.checksum }),
  }
  parseExpectedDigests(digests) // malformed digests fail here, before any request
  const stall = values['stall-timeout']
  if (stall !== undefined && !(/^\d+(\.\d+)?$/.test(stall) && Number(stall) > 0 && Number(stall) <= 86_400)) throw usage(`--stall-timeout takes seconds (e.g. 30), got "${stall}".`)
  const headers: Record<string, string> = {}
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':')
    const name = colon > 0 ? h.slice(0, colon).trim() : ''
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(h)) throw usage(`--header takes 'Name: value', got "${h}".`)
    headers[name] = h.slice(colon + 1).trim()
  }
  if (values.output !== undefined && values.output.trim() === '') throw usage('--output needs a file path.')
  if (values.json === true && values.quiet === true) throw usage('--json and --quiet do not go together: --json already prints no progress line.')
  const common = {
    source,
    ...(values.output === undefined ? {} : { output: values.output }),
    digests,
    connections: integer(values.connections, '--connections/-x', 1, 64) ?? 1,
    ...(values.retries === undefined ? {} : { retries: integer(values.retries, '--retries', 0, 1000)! }),
    ...(stall === undefined ? {} : { stallTimeoutMs: Math.round(Number(stall) * 1000) }),
    headers,
    noWait: values['no-wait'] === true,
    json: values.json === true,
    quiet: values.quiet === true,
  }
  if (/^https?:\/\//i.test(source)) {
    if (values.gateway !== undefined) throw usage('--gateway is for IPFS sources; use --mirror for another URL of the same file.')
    return { kind: 'http', url: httpUrl(source, 'The URL'), mirrors: (values.mirror ?? []).map((m) => httpUrl(m, '--mirror').href), ...common }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^ipfs:\/\//i.test(source)) throw usage(`Unsupported source "${source}": haul fetches http(s):// URLs and IPFS content (ipfs://CID, /ipfs/CID, CID).`)
  if (values.mirror !== undefined) throw usage('--mirror is for HTTP sources; use --gateway for IPFS.')
  if (values.header !== undefined) throw usage('--header is for HTTP sources.')
  const ipfs = parseIpfsInput(source)
  for (const g of values.gateway ?? []) httpUrl(g, '--gateway')
  return { kind: 'ipfs', ipfs, mirrors: [], ...(values.gateway === undefined ? {} : { gateways: values.gateway }), ...common }
}
