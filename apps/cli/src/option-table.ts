/**
 * Every command and option of `haul`, in one table: argument parsing, `--help`, the man page and
 * the shell completions are all generated from it, so they can't disagree.
 */

/** What a shell completion offers for an option's value or a positional argument. */
export type Completion = 'file' | 'dir' | 'none' | readonly string[]

/** One option of a command. */
export interface OptionSpec {
  /** The long name, without the dashes. */
  long: string
  /** The one-letter name, without the dash. */
  short?: string
  /** The value's placeholder (e.g. `PATH`); absent for a flag. */
  value?: string
  /** The value may be left out: `--cache` or `--cache=DIR`. */
  optionalValue?: boolean
  /** Taken out of the arguments before the table-driven parse (the `--cache` family). */
  separate?: boolean
  /** May be given several times. */
  multiple?: boolean
  /** What it does, as a sentence or two (wrapped when printed). */
  help: string
  /** What completion offers for the value. @default 'none' */
  complete?: Completion
  /** The heading it is listed under in help and the man page. */
  group: string
}

/** One subcommand. */
export interface CommandSpec {
  name: string
  /** One line for the command list. */
  summary: string
  /** Usage lines, without the leading `haul `. */
  usage: readonly string[]
  /** Positional arguments after the command, for completion. */
  positionals?: Completion
  options: readonly OptionSpec[]
  /** Paragraphs printed after the options. */
  notes?: readonly string[]
  /** Example command lines, without the leading `haul `. */
  examples: readonly string[]
}

/** `-h/--help`, which every command takes. */
export const HELP_OPTION: OptionSpec = { long: 'help', short: 'h', help: 'show this help and exit.', group: 'Other' }

const RATE = 'RATE is bytes a second, with K, M or G (1K = 1024), e.g. 500K or 2M.'

const GET_OPTIONS: readonly OptionSpec[] = [
  { long: 'output', short: 'o', value: 'PATH', complete: 'file', group: 'Output', help: 'file to write (default: a safe name from the server or the URL/CID, in the working folder; never outside it). "-" writes to stdout, verified as it streams: a mismatch exits 4 after the bytes went out.' },
  { long: 'remote-name', short: 'O', group: 'Output', help: "save under the remote's name (the default without -o; accepted for curl's -O)." },
  { long: 'dir', short: 'd', value: 'DIR', complete: 'dir', group: 'Output', help: 'folder for the output, or for every output of a batch (default: the working folder).' },
  { long: 'output-dir', short: 'P', value: 'DIR', complete: 'dir', group: 'Output', help: "the same as -d (wget's -P)." },
  { long: 'continue', short: 'c', group: 'Output', help: 'resume a partial download. Always on: haul resumes whatever it staged before (accepted for wget, curl and aria2c scripts).' },
  { long: 'sha256', value: 'HEX', group: 'Integrity', help: 'expected SHA-256; the file is committed only if it matches.' },
  { long: 'sha512', value: 'HEX', group: 'Integrity', help: 'expected SHA-512.' },
  { long: 'integrity', value: 'SRI', group: 'Integrity', help: 'expected Subresource Integrity string, e.g. sha256-<base64>.' },
  { long: 'checksum', value: 'ALGO:HEX', group: 'Integrity', help: 'expected digest as ALGO:HEX (sha256, sha512, sha1, md5, blake3, …).' },
  { long: 'mirror', value: 'URL', multiple: true, group: 'Sources', help: 'another URL for the same bytes (repeatable).' },
  { long: 'gateway', value: 'URL', multiple: true, group: 'Sources', help: 'IPFS gateway (repeatable; replaces the defaults and HAUL_GATEWAYS).' },
  { long: 'connections', short: 'x', value: 'N', group: 'Transfer', help: 'parallel connections for one file (default 1).' },
  { long: 'limit-rate', value: 'RATE', group: 'Transfer', help: `at most RATE for each file, over all its connections. ${RATE}` },
  { long: 'total-limit-rate', value: 'RATE', group: 'Transfer', help: 'at most RATE for all the files of a batch together.' },
  { long: 'retries', value: 'N', group: 'Transfer', help: 'retries after failures without progress (default 5).' },
  { long: 'stall-timeout', value: 'SECONDS', group: 'Transfer', help: 'no data for this long counts as a stall: the connection is dropped and resumed (default 30).' },
  { long: 'timeout', value: 'SECONDS', group: 'Transfer', help: "give up after SECONDS in all (curl's --max-time): exit 3, the partial is kept for the next run." },
  { long: 'no-wait', group: 'Transfer', help: 'fail (exit 7) instead of waiting when another process holds the file.' },
  { long: 'cache', value: 'DIR', optionalValue: true, separate: true, complete: 'dir', group: 'Transfer', help: 'use the shared cache (DIR: $HAUL_CACHE, else $XDG_CACHE_HOME/haul, else ~/.cache/haul; HAUL_CACHE alone turns it on). A file whose sha256 is cached is linked with no request; a URL without one is always fetched.' },
  { long: 'no-cache', separate: true, group: 'Transfer', help: 'do not use the cache, even with HAUL_CACHE set.' },
  { long: 'header', short: 'H', value: "'NAME: VALUE'", multiple: true, group: 'HTTP', help: 'extra request header (repeatable; credentials go to the URL\'s own origin only).' },
  { long: 'user-agent', short: 'A', value: 'TEXT', group: 'HTTP', help: 'the User-Agent header (default: haul/VERSION).' },
  { long: 'proxy', value: 'URL', group: 'HTTP', help: 'send through this HTTP proxy (http://[user:pass@]host:port), whatever HTTP_PROXY/HTTPS_PROXY say; --proxy "" uses none.' },
  { long: 'cacert', value: 'FILE', complete: 'file', group: 'HTTP', help: 'also trust the CA certificate(s) in this PEM file (a private CA, a self-signed server), as NODE_EXTRA_CA_CERTS does.' },
  { long: 'insecure', short: 'k', group: 'HTTP', help: 'do not verify TLS certificates: anyone on the path can read and change the download. Prefer --cacert.' },
  { long: 'connect-timeout', value: 'SECONDS', group: 'HTTP', help: 'time allowed to open a connection, TCP and TLS (default 30).' },
  { long: 'json', group: 'Messages', help: 'one JSON event a line on stdout.' },
  { long: 'quiet', short: 'q', group: 'Messages', help: 'no progress; errors only.' },
  { long: 'silent', short: 's', group: 'Messages', help: "the same as -q (curl's -sS: errors are still shown)." },
  { long: 'verbose', short: 'v', group: 'Messages', help: 'also print every HTTP request and response line (credentials redacted) on stderr.' },
  { long: 'input', short: 'i', value: 'FILE', complete: 'file', group: 'Batch (several SOURCEs, or -i)', help: 'SOURCEs one a line ("-" for stdin); indented lines below one set its own out=, sha256=, sha512=, integrity=, checksum=, mirror=, gateway= (the last two repeatable); blank lines and # comments are ignored.' },
  { long: 'jobs', short: 'j', value: 'N', group: 'Batch (several SOURCEs, or -i)', help: 'files at once (default 4).' },
  { long: 'max-connections', value: 'N', group: 'Batch (several SOURCEs, or -i)', help: 'connections at once across all files; -x is per file (default 16).' },
]

/** Every command, in the order help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'get',
    summary: 'download files: verified, resumable, committed whole',
    usage: ['get SOURCE [-o PATH] [options]', 'get SOURCE… | -i FILE [-d DIR] [-j N] [--max-connections N] [options]'],
    positionals: 'none',
    options: GET_OPTIONS,
    notes: [
      'SOURCE is http(s)://…, ipfs://CID[/path], /ipfs/CID[/path] or a bare CID.',
      'A partial download is kept and the same command resumes it. With -o -, the bytes go to stdout as they arrive and are verified on the way; stdout can\'t be un-written, so a digest mismatch exits 4 after the bytes went out (discard them). Nothing is staged or locked for stdout; a retry resumes at the byte already written.',
      'Several SOURCEs or -i make a batch: a bad line fails alone, and the exit status is the most serious failure: 1 > 4 > 6 > 5 > 3 > 7 > 2 (130/143 on SIGINT/SIGTERM). --json events carry "file" and "source"; the last line is "summary".',
    ],
    examples: [
      'get https://example.com/model.onnx --sha256 9f86d0…',
      'get https://example.com/big.iso -x 8 --mirror https://mirror.example.org/big.iso',
      'get ipfs://bafybeigdyrzt5…/readme.txt -o readme.txt',
      'get https://example.com/data.tar.gz -o - --sha256 9f86d0… | tar xz',
      'get https://example.com/data.tar --limit-rate 2M --json | jq -c \'select(.event != "progress")\'',
      'get -i list.txt -d downloads -j 8 --total-limit-rate 10M --cache',
    ],
  },
  {
    name: 'status',
    summary: 'what is staged for a destination, and whether it can resume',
    usage: ['status PATH [--json]'],
    positionals: 'file',
    options: [{ long: 'json', group: 'Options', help: 'print one JSON object.' }],
    examples: ['status model.onnx'],
  },
  {
    name: 'cache',
    summary: 'list, verify or trim the shared cache',
    usage: ['cache ls | verify | gc --max-size SIZE  [--cache DIR] [--json]'],
    positionals: ['ls', 'verify', 'gc'],
    options: [
      { long: 'cache', value: 'DIR', complete: 'dir', group: 'Options', help: 'the cache folder (default: $HAUL_CACHE, else $XDG_CACHE_HOME/haul, else ~/.cache/haul).' },
      { long: 'max-size', value: 'SIZE', group: 'Options', help: 'for gc: remove least recently used blobs down to SIZE (e.g. 10G); blobs a running download uses are kept.' },
      { long: 'json', group: 'Options', help: 'print one JSON object.' },
    ],
    notes: ['ls lists blobs, sizes and last use (least recently used first); verify re-hashes every blob and removes corrupt ones (exit 4 if any was corrupt); gc trims to --max-size.'],
    examples: ['cache ls', 'cache verify', 'cache gc --max-size 20G'],
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh or fish)',
    usage: ['completion bash | zsh | fish'],
    positionals: ['bash', 'zsh', 'fish'],
    options: [],
    examples: ['completion bash > ~/.local/share/bash-completion/completions/haul', 'completion zsh > "${fpath[1]}/_haul"', 'completion fish > ~/.config/fish/completions/haul.fish'],
  },
  {
    name: 'man',
    summary: 'print the manual page (roff)',
    usage: ['man'],
    options: [],
    examples: ['man | man -l -'],
  },
  {
    name: 'help',
    summary: 'help for haul or one of its commands',
    usage: ['help [COMMAND]'],
    positionals: ['get', 'status', 'cache', 'completion', 'man'],
    options: [],
    examples: ['help get'],
  },
]

/** The command named `name`. */
export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name)
}

/** A command's options with `--help` (listed with the others when they share one heading). */
export function optionsOf(command: CommandSpec): readonly OptionSpec[] {
  const groups = new Set(command.options.map((o) => o.group))
  return [...command.options, { ...HELP_OPTION, group: groups.size === 1 ? [...groups][0]! : groups.size === 0 ? 'Options' : HELP_OPTION.group }]
}

/** The `node:util` parseArgs configuration for a command's options (the separate ones excluded). */
export function parseArgsOptions(command: CommandSpec): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const o of optionsOf(command)) {
    if (o.separate === true) continue
    out[o.long] = { type: o.value === undefined ? 'boolean' : 'string', ...(o.short === undefined ? {} : { short: o.short }), ...(o.multiple === true ? { multiple: true } : {}) }
  }
  return out
}

/** Exit statuses, for help and the man page (exit-codes.ts maps error codes to them). */
export const EXIT_STATUS: ReadonlyArray<readonly [string, string]> = [
  ['0', 'the verified file is at the path (downloaded, resumed, or already there)'],
  ['1', 'a bug (HAUL_INTERNAL)'],
  ['2', 'bad arguments or input: malformed URL, CID, digest; unsafe file name (HAUL_USAGE)'],
  ['3', 'the source refused for good, or every retry and source failed, or --timeout passed (HAUL_SOURCE)'],
  ['4', 'the bytes did not match the digest or CID; nothing was committed (HAUL_INTEGRITY)'],
  ['5', 'not enough disk space; the partial is kept (HAUL_NO_SPACE)'],
  ['6', 'other local I/O error: permission, read-only filesystem, a closed stdout (HAUL_IO)'],
  ['7', '--no-wait and another process holds the destination (HAUL_LOCK_BUSY)'],
  ['130, 143', 'SIGINT, SIGTERM; the partial is kept for resume (HAUL_ABORTED)'],
]

/** Environment variables haul reads. */
export const ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ['HAUL_CACHE', 'the cache folder; set, it turns the cache on'],
  ['HAUL_GATEWAYS', 'IPFS gateways, comma-separated, instead of the defaults'],
  ['HTTP_PROXY, HTTPS_PROXY, NO_PROXY', 'the proxy for http:// and https:// URLs, and hosts that bypass it'],
  ['NODE_EXTRA_CA_CERTS', 'a PEM file of extra certificate authorities to trust'],
  ['HAUL_LOCK', 'auto, ofd or socket: the kind of destination lock (default auto)'],
  ['HAUL_WRITEBACK_MIB', 'MiB written between background datasyncs (default 16, with HAUL_FSYNC=0 none; 0: none)'],
  ['HAUL_HASH_THREAD', '0 hashes on the main thread instead of a worker'],
  ['HAUL_FSYNC', '0 skips the fsyncs: the commit stays atomic, but a power cut may lose it'],
  ['NO_COLOR', 'set (to anything), no colour in the progress display'],
  ['COLUMNS', "the terminal's width when it does not report one (default 80)"],
]
