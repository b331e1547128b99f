import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { TransportOptions } from '@haul/http'
import { HaulError, OPTION_BOUNDS, defaultCacheDir, parseExpectedDigests, type DigestOptions } from '@haul/core'
import type { IpfsInput } from '@haul/ipfs/input'
import { DEFAULT_JOBS, DEFAULT_MAX_CONNECTIONS } from './defaults.js'
import { needsIpfsParser, parseIpfsAddress } from './ipfs-address.js'
import { commandSpec, parseArgsOptions } from './option-table.js'
import { parseRate } from './size.js'
import { suggestSource } from './source-typo.js'

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
  /** How to talk HTTP: proxy, TLS trust, connect timeout, User-Agent. */
  network: NetworkOptions
  noWait: boolean
  json: boolean
  quiet: boolean
  /** Every retry, source switch and HTTP exchange on stderr (-v). */
  verbose: boolean
  /** The cache folder, when the cache is on. */
  cache?: string
  /** Bytes a second for each file, over all its connections (--limit-rate). */
  rateLimit?: number
  /** Bytes a second for every file of the command together (--total-limit-rate). */
  totalRateLimit?: number
  /** Give up after this long in all (--timeout). */
  timeoutMs?: number
  /** `-o -`: the bytes go to stdout, verified as they stream; no file, no staging. */
  stdout?: boolean
  /** The folder that `output` (or the default name) is in; default the working folder. */
  dir?: string
}

/** The transport options the command line sets. */
export type NetworkOptions = Pick<TransportOptions, 'proxy' | 'insecure' | 'ca' | 'connectTimeoutMs' | 'userAgent'>

/** What one file of a batch may set for itself (an input file's indented option lines). */
export interface EntryOptions {
  output?: string
  digests: DigestOptions
  mirrors: string[]
  gateways?: string[]
}

/** The options every file of a batch shares. */
export type SharedOptions = Omit<GetRequest, 'kind' | 'source' | 'url' | 'ipfs' | 'output' | 'digests' | 'mirrors' | 'dir' | 'stdout'>

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

/** " Did you mean …?" for a source or URL that looks like a typo of one haul fetches, else "". */
function didYouMean(text: string): string {
  const hint = suggestSource(text)
  return hint === undefined ? '' : ` Did you mean ${hint}?`
}

function httpUrl(text: string, what: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usage(`${what} "${text}" is not a valid URL.${didYouMean(text)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`${what} "${text}" must be http:// or https://.${didYouMean(text)}`)
  return url
}

/** The PEM file of --cacert (its certificates are checked when the transport is made). */
function readCaFile(path: string, cwd: string): Buffer {
  try {
    return readFileSync(resolve(cwd, path))
  } catch (err) {
    throw usage(`--cacert: could not read ${path}: ${(err as Error).message}`)
  }
}

/** A number of seconds above 0 and up to `maxMs` (a day unless a library bound says otherwise), as milliseconds. */
function seconds(value: string | undefined, name: string, maxMs = 86_400_000): number | undefined {
  if (value === undefined) return undefined
  if (!(/^\d+(\.\d+)?$/.test(value) && Number(value) > 0 && Number(value) * 1000 <= maxMs)) throw usage(`${name} takes seconds (e.g. 30), got "${value}".`)
  return Math.round(Number(value) * 1000)
}

/** A command-line word that names something to download rather than a folder. */
function looksLikeSource(word: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(word) || word.startsWith('/ipfs/')) return true
  try {
    parseIpfsAddress(word)
    return true
  } catch (err) {
    if (needsIpfsParser(err)) throw err
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
  const hint = didYouMean(source)
  if (hint !== '') throw usage(`"${source}" is neither a URL that haul fetches nor a CID.${hint}`)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^ipfs:\/\//i.test(source)) throw usage(`Unsupported source "${source}": haul fetches http(s):// URLs and IPFS content (ipfs://CID, /ipfs/CID, CID).`)
  if (entry.mirrors.length > 0) throw usage('--mirror is for HTTP sources; use --gateway for IPFS.')
  const ipfs = parseIpfsAddress(source)
  const gateways = entry.gateways ?? shared.gateways
  for (const g of gateways ?? []) httpUrl(g, '--gateway')
  return { ...common, kind: 'ipfs', ipfs, mirrors: [], ...(gateways === undefined ? {} : { gateways }) }
}

/**
 * Parses the arguments after `get`: one SOURCE, or a batch (several SOURCEs, or `-i FILE`).
 * Throws HAUL_USAGE (exit 2) before anything touches the network.
 */
export function parseGetCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): GetCommand {
  const cacheFlag = takeCacheFlag(argv)
  let parsed
  try {
    parsed = parseArgs({ args: cacheFlag.rest, allowPositionals: true, strict: true, options: parseArgsOptions(commandSpec('get')!) })
  } catch (err) {
    throw usage(`${(err as Error).message}. Run "haul get --help" for its options.`)
  }
  const { values, positionals } = parsed
  const text = (name: string): string | undefined => values[name] as string | undefined
  const flag = (name: string): boolean => values[name] === true
  const list = (name: string): string[] | undefined => values[name] as string[] | undefined
  const digests: DigestOptions = {}
  for (const name of ['sha256', 'sha512', 'integrity', 'checksum'] as const) if (text(name) !== undefined) digests[name] = text(name)!
  const headers: Record<string, string> = {}
  for (const h of list('header') ?? []) {
    const colon = h.indexOf(':')
    const name = colon > 0 ? h.slice(0, colon).trim() : ''
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(h)) throw usage(`--header takes 'Name: value', got "${h}".`)
    headers[name] = h.slice(colon + 1).trim()
  }
  const quiet = flag('quiet') || flag('silent')
  if (flag('json') && quiet) throw usage(`--json and ${flag('quiet') ? '--quiet' : '--silent'} do not go together: --json already prints no progress line.`)
  if (flag('verbose') && quiet) throw usage('--verbose and --quiet/--silent do not go together.')
  const dirs = [text('dir'), text('output-dir')].filter((d) => d !== undefined)
  if (dirs.length === 2 && dirs[0] !== dirs[1]) throw usage('-d/--dir and -P/--output-dir name the same folder; give one.')
  const dir = dirs[0]
  if (dir !== undefined && dir.trim() === '') throw usage('--dir needs a folder.')
  const output = text('output')
  if (output !== undefined && flag('remote-name')) throw usage('-O saves under the remote name and -o names the file: give one of them.')
  const stdout = output === '-'
  if (stdout && flag('json')) throw usage('-o - writes the file to stdout, where --json writes its events: give one of them.')
  const cache = cacheSetting(cacheFlag, env)
  const connectTimeoutMs = seconds(text('connect-timeout'), '--connect-timeout')
  const cacert = text('cacert')
  const network: NetworkOptions = {
    ...(text('proxy') === undefined ? {} : { proxy: text('proxy') === '' ? false : text('proxy')! }),
    ...(flag('insecure') ? { insecure: true } : {}),
    ...(cacert === undefined ? {} : { ca: readCaFile(cacert, cwd) }),
    ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
    ...(text('user-agent') === undefined ? {} : { userAgent: text('user-agent')! }),
  }
  if (network.proxy !== undefined && network.proxy !== false) httpUrl(network.proxy, '--proxy')
  const rateLimit = text('limit-rate')
  const totalRateLimit = text('total-limit-rate')
  const timeoutMs = seconds(text('timeout'), '--timeout')
  const stallTimeoutMs = seconds(text('stall-timeout'), '--stall-timeout', OPTION_BOUNDS.stallTimeoutMs.max)
  const shared: SharedOptions = {
    connections: integer(text('connections'), '--connections/-x', OPTION_BOUNDS.connections.min, OPTION_BOUNDS.connections.max) ?? OPTION_BOUNDS.connections.default,
    ...(text('retries') === undefined ? {} : { retries: integer(text('retries'), '--retries', OPTION_BOUNDS.retries.min, OPTION_BOUNDS.retries.max)! }),
    ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }),
    headers,
    network,
    noWait: flag('no-wait'),
    json: flag('json'),
    quiet,
    verbose: flag('verbose'),
    ...(list('gateway') === undefined ? {} : { gateways: list('gateway')! }),
    // stdout is written as the bytes arrive: there is no file to link from the cache.
    ...(cache === undefined || stdout ? {} : { cache }),
    ...(rateLimit === undefined ? {} : { rateLimit: parseRate(rateLimit, '--limit-rate') }),
    ...(totalRateLimit === undefined ? {} : { totalRateLimit: parseRate(totalRateLimit, '--total-limit-rate') }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  }
  const jobs = integer(text('jobs'), '--jobs/-j', 1, 1024) ?? DEFAULT_JOBS
  const maxConnections = integer(text('max-connections'), '--max-connections', 1, 1024) ?? DEFAULT_MAX_CONNECTIONS
  const input = text('input')
  if (input === undefined && positionals.length <= 1) {
    if (positionals.length === 0) throw usage('haul get needs a SOURCE (a URL, ipfs://CID, /ipfs/CID or a CID), or -i FILE.')
    const source = positionals[0]!
    if (output !== undefined && output.trim() === '') throw usage('--output needs a file path.')
    const gateways = list('gateway')
    const request = entryRequest(source, { ...(output === undefined || stdout ? {} : { output }), digests, mirrors: list('mirror') ?? [], ...(gateways === undefined ? {} : { gateways }) }, shared)
    if (request.kind === 'ipfs' && list('header') !== undefined) throw usage('--header is for HTTP sources.')
    return { mode: 'single', request: { ...request, ...(dir === undefined ? {} : { dir }), ...(stdout ? { stdout } : {}) } }
  }
  // Several files: what names one file can't be given for all of them.
  if (output !== undefined) throw usage('-o/--output names one file; with several SOURCEs or -i, use -d DIR (and out= lines in the input file).')
  for (const name of ['sha256', 'sha512', 'integrity', 'checksum', 'mirror'] as const) {
    if (values[name] !== undefined) throw usage(`--${name} belongs to one file; with several SOURCEs, use -i FILE with an indented ${name}= line under each SOURCE.`)
  }
  return {
    mode: 'batch',
    batch: {
      sources: positionals,
      ...(input === undefined ? {} : { input }),
      ...(dir === undefined ? {} : { dir }),
      jobs,
      maxConnections,
      shared,
    },
  }
}
