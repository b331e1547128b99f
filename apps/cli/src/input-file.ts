import type { EntryOptions } from './args.js'

/** One SOURCE line of an input file, with the option lines indented below it. */
export interface InputEntry {
  /** 1-based line number of the SOURCE line. */
  line: number
  source: string
  options: EntryOptions
  /** Why the entry can't be used (a malformed or unknown option line), naming the line. */
  error?: string
}

type DigestKey = 'sha256' | 'sha512' | 'integrity' | 'checksum'
const DIGEST_KEYS: ReadonlySet<string> = new Set<DigestKey>(['sha256', 'sha512', 'integrity', 'checksum'])

/**
 * Parses an input file in the spirit of aria2's: one SOURCE a line (further tab-separated URLs
 * on it are mirrors), each followed by indented `key=value` lines: `out=`, `sha256=`, `sha512=`,
 * `integrity=`, `checksum=`, `mirror=` and `gateway=` (the last two repeatable). Blank lines and
 * lines starting with `#` are ignored. A malformed line never stops the others: it makes its
 * entry (or, before any SOURCE, an entry of its own) carry an `error` naming the line.
 */
export function parseInputFile(text: string): InputEntry[] {
  const entries: InputEntry[] = []
  let current: InputEntry | undefined
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    if (!/^[ \t]/.test(raw)) {
      const [source = '', ...mirrors] = trimmed.split('\t').map((s) => s.trim()).filter((s) => s !== '')
      current = { line, source, options: { digests: {}, mirrors } }
      entries.push(current)
      continue
    }
    if (current === undefined) {
      entries.push({ line, source: '', options: { digests: {}, mirrors: [] }, error: `line ${line}: "${trimmed}" is an option line (indented) before any SOURCE line.` })
      continue
    }
    if (current.error !== undefined) continue
    const eq = trimmed.indexOf('=')
    const key = eq > 0 ? trimmed.slice(0, eq).trim() : ''
    const value = trimmed.slice(eq + 1).trim()
    const options = current.options
    if (key === '' || value === '') current.error = `line ${line}: expected key=value under ${current.source}, got "${trimmed}".`
    else if (key === 'mirror') options.mirrors.push(value)
    else if (key === 'gateway') options.gateways = [...(options.gateways ?? []), value]
    else if (key === 'out' || DIGEST_KEYS.has(key)) {
      const taken = key === 'out' ? options.output : options.digests[key as DigestKey]
      if (taken !== undefined) current.error = `line ${line}: ${key}= is given twice for ${current.source}.`
      else if (key === 'out') options.output = value
      else options.digests[key as DigestKey] = value
    } else current.error = `line ${line}: unknown option "${key}" for ${current.source} (known: out, sha256, sha512, integrity, checksum, mirror, gateway).`
  }
  return entries
}
