import { parseArgs } from 'node:util'
import { HaulError, OPTION_BOUNDS, defaultCacheDir, parseExpectedDigests, type DigestOptions } from '@haul/core'
import { parseIpfsInput, type IpfsInput } from '@haul/ipfs/input'
import { DEFAULT_JOBS, DEFAULT_MAX_CONNECTIONS } from './defaults.js'

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
  /** The cache folder, when the cache is on. */
  cache?: string
  /** The folder that `output` (or the default name) is in; default the working folder. */
  dir?: string
}

/** What one file of a batch may set for itself (an input file's indented option lines). */
export interface EntryOptions {
  output?: string
  digests: DigestOptions
  mirrors: string[]
  gateways?: string[]
}

/** The options every file of a batch shares. */
export type SharedOptions = Omit<GetRequest, 'kind' | 'source' | 'url' | 'ipfs' | 'output' | 'digests' | 'mirrors' | 'dir'>

/** A parsed `haul get` with several SOURCEs or an input file (-i). */
export interface BatchRequest {
  /** SOURCEs given on the command line, before those of the input file. */
  sources: string[]
  /** The input file, `-` for stdin. */
  input?: string
  /** The folder outputs go to (default: the working folder). */
  dir?: string
  /** Files downloaded at once. */
  jobs: number
  /** Connections open at once across every file. */
  maxConnections: number
  shared: SharedOptions
}

/** `haul get` with one SOURCE, or a batch. */
export type GetCommand = { mode: 'single'; request: GetRequest } | { mode: 'batch'; batch: BatchRequest }

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

/** A command-line word that names something to download rather than a folder. */
function looksLikeSource(word: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(word) || word.startsWith('/ipfs/')) return true
  try {
    parseIpfsInput(word)
    return true
  } catch {
    return false
  }
}

/**
 * `--cache` takes an optional folder: `--cache=DIR`, or `--cache DIR` when the next word is
 * neither an option nor a SOURCE. Returns the other arguments and the cache setting.
 */
function takeCacheFlag(argv: string[]): { rest: string[]; cache: boolean | undefined; cacheDir: string | undefined } {
  const rest: string[] = []
  let cache: boolean | undefined
  let cacheDir: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      rest.push(...argv.slice(i))
      break
    }
    if (arg === '--no-cache') cache = false
    else if (arg.startsWith('--cache=')) {
      cache = true
      cacheDir = arg.slice('--cache='.length)
      if (cacheDir === '') throw usage('--cache= needs a folder.')
    } else if (arg === '--cache') {
      cache = true
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith('-') && !looksLikeSource(next)) {
        cacheDir = next
        i++
      }
    } else rest.push(arg)
  }
  return { rest, cache, cacheDir }
}

/** The cache folder to use, or undefined when the cache is off (on by --cache or HAUL_CACHE). */
function cacheSetting(flag: ReturnType<typeof takeCacheFlag>, env: NodeJS.ProcessEnv): string | undefined {
  if (flag.cache === false) return undefined
  if (flag.cacheDir !== undefined) return flag.cacheDir
  if (flag.cache === true || (env.HAUL_CACHE !== undefined && env.HAUL_CACHE !== '')) return defaultCacheDir(env)
  return undefined
}

/** Checks one file's digests, mirrors and gateways against its SOURCE and makes its request. */
export function entryRequest(source: string, entry: EntryOptions, shared: SharedOptions): GetRequest {
  parseExpectedDigests(entry.digests) // malformed or conflicting digests fail here, before any request
  if (entry.output !== undefined && entry.output.trim() === '') throw usage('The output needs a file path.')
  if (entry.output?.includes('\0') === true) throw usage('The output path contains a NUL byte.')
  const common = { ...shared, source, ...(entry.output === undefined ? {} : { output: entry.output }), digests: entry.digests }
  if (/^https?:\/\//i.test(source)) {
    if (entry.gateways !== undefined) throw usage('--gateway is for IPFS sources; use --mirror for another URL of the same file.')
    const { gateways: _shared, ...http } = common
    return { ...http, kind: 'http', url: httpUrl(source, 'The URL'), mirrors: entry.mirrors.map((m) => httpUrl(m, '--mirror').href) }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^ipfs:\/\//i.test(source)) throw usage(`Unsupported source "${source}": haul fetches http(s):// URLs and IPFS content (ipfs://CID, /ipfs/CID, CID).`)
  if (entry.mirrors.length > 0) throw usage('--mirror is for HTTP sources; use --gateway for IPFS.')
  const ipfs = parseIpfsInput(source)
  const gateways = entry.gateways ?? shared.gateways
  for (const g of gateways ?? []) httpUrl(g, '--gateway')
  return { ...common, kind: 'ipfs', ipfs, mirrors: [], ...(gateways === undefined ? {} : { gateways }) }
}

/**
 * Parses the arguments after `get`: one SOURCE, or a batch (several SOURCEs, or `-i FILE`).
 * Throws HAUL_USAGE (exit 2) before anything touches the network.
 */
export function parseGetCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): GetCommand {
  const cacheFlag = takeCacheFlag(argv)
  let parsed
  try {
    parsed = parseArgs({
      args: cacheFlag.rest,
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
        input: { type: 'string', short: 'i' },
        dir: { type: 'string', short: 'd' },
        jobs: { type: 'string', short: 'j' },
        'max-connections': { type: 'string' },
      },
    })
  } catch (err) {
    throw usage(`${(err as Error).message}. Run "haul --help" for usage.`)
  }
  const { values, positionals } = parsed
  const digests: DigestOptions = {
    ...(values.sha256 === undefined ? {} : { sha256: values.sha256 }),
    ...(values.sha512 === undefined ? {} : { sha512: values.sha512 }),
    ...(values.integrity === undefined ? {} : { integrity: values.integrity }),
    ...(values.checksum === undefined ? {} : { checksum: values.checksum }),
  }
  const stall = values['stall-timeout']
  if (stall !== undefined && !(/^\d+(\.\d+)?$/.test(stall) && Number(stall) > 0 && Number(stall) * 1000 <= OPTION_BOUNDS.stallTimeoutMs.max)) throw usage(`--stall-timeout takes seconds (e.g. 30), got "${stall}".`)
  const headers: Record<string, string> = {}
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':')
    const name = colon > 0 ? h.slice(0, colon).trim() : ''
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(h)) throw usage(`--header takes 'Name: value', got "${h}".`)
    headers[name] = h.slice(colon + 1).trim()
  }
  if (values.json === true && values.quiet === true) throw usage('--json and --quiet do not go together: --json already prints no progress line.')
  if (values.dir !== undefined && values.dir.trim() === '') throw usage('--dir needs a folder.')
  const cache = cacheSetting(cacheFlag, env)
  const shared: SharedOptions = {
    connections: integer(values.connections, '--connections/-x', OPTION_BOUNDS.connections.min, OPTION_BOUNDS.connections.max) ?? OPTION_BOUNDS.connections.default,
    ...(values.retries === undefined ? {} : { retries: integer(values.retries, '--retries', OPTION_BOUNDS.retries.min, OPTION_BOUNDS.retries.max)! }),
    ...(stall === undefined ? {} : { stallTimeoutMs: Math.round(Number(stall) * 1000) }),
    headers,
    noWait: values['no-wait'] === true,
    json: values.json === true,
    quiet: values.quiet === true,
    ...(values.gateway === undefined ? {} : { gateways: values.gateway }),
    ...(cache === undefined ? {} : { cache }),
  }
  const jobs = integer(values.jobs, '--jobs/-j', 1, 1024) ?? DEFAULT_JOBS
  const maxConnections = integer(values['max-connections'], '--max-connections', 1, 1024) ?? DEFAULT_MAX_CONNECTIONS
  if (values.input === undefined && positionals.length <= 1) {
    if (positionals.length === 0) throw usage('haul get needs a SOURCE (a URL, ipfs://CID, /ipfs/CID or a CID), or -i FILE.')
    const source = positionals[0]!
    if (values.output !== undefined && values.output.trim() === '') throw usage('--output needs a file path.')
    const output = values.output
    const request = entryRequest(source, { ...(output === undefined ? {} : { output }), digests, mirrors: values.mirror ?? [], ...(values.gateway === undefined ? {} : { gateways: values.gateway }) }, shared)
    if (request.kind === 'ipfs' && values.header !== undefined) throw usage('--header is for HTTP sources.')
    return { mode: 'single', request: { ...request, ...(values.dir === undefined ? {} : { dir: values.dir }) } }
  }
  // Several files: what names one file can't be given for all of them.
  if (values.output !== undefined) throw usage('-o/--output names one file; with several SOURCEs or -i, use -d DIR (and out= lines in the input file).')
  for (const flag of ['sha256', 'sha512', 'integrity', 'checksum', 'mirror'] as const) {
    if (values[flag] !== undefined) throw usage(`--${flag} belongs to one file; with several SOURCEs, use -i FILE with an indented ${flag}= line under each SOURCE.`)
  }
  return {
    mode: 'batch',
    batch: {
      sources: positionals,
      ...(values.input === undefined ? {} : { input: values.input }),
      ...(values.dir === undefined ? {} : { dir: values.dir }),
      jobs,
      maxConnections,
      shared,
    },
  }
}
