/** A parsed `Content-Disposition` header (RFC 6266). */
export interface ContentDisposition {
  /** `attachment`, `inline`, … lower-cased. */
  type: string
  /**
   * The suggested file name, decoded but not sanitised: it may hold `../`, slashes or control
   * characters. `filename*` (RFC 8187) wins over `filename`.
   */
  fileName?: string
  /** Every parameter, names lower-cased, values unquoted (`filename*` still encoded). */
  parameters: Record<string, string>
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses a `Content-Disposition` header. Pure and lenient: malformed parameters are skipped,
 * and undefined is returned only when there is no disposition type at all.
 */
export function parseContentDisposition(header: string | undefined | null): ContentDisposition | undefined {
  if (header === undefined || header === null) return undefined
  const [first = '', ...rest] = splitOutsideQuotes(header)
  const type = first.trim().toLowerCase()
  if (type === '' || /[\s"=]/.test(type)) return undefined
  const parameters: Record<string, string> = {}
  for (const part of rest) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim().toLowerCase()
    const raw = part.slice(eq + 1).trim()
    if (name === '' || name in parameters) continue
    parameters[name] = raw.startsWith('"') ? unquote(raw) : raw
  }
  const extended = parameters['filename*'] === undefined ? undefined : decodeExtValue(parameters['filename*'])
  const plain = parameters.filename === undefined ? undefined : latin1AsUtf8(parameters.filename)
  const fileName = extended ?? plain
  return { type, ...(fileName === undefined ? {} : { fileName }), parameters }
}

/** Splits on `;` except inside a quoted-string. */
function splitOutsideQuotes(header: string): string[] {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < header.length; i++) {
    const c = header[i]
    if (quoted && c === '\\') i++
    else if (c === '"') quoted = !quoted
    else if (c === ';' && !quoted) {
      parts.push(header.slice(start, i))
      start = i + 1
    }
  }
  parts.push(header.slice(start))
  return parts
}

/** The content of a quoted-string, escapes resolved; an unterminated one runs to the end. */
function unquote(raw: string): string {
  let out = ''
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]
    if (c === '"') break
    if (c === '\\' && i + 1 < raw.length) out += raw[++i]
    else out += c
  }
  return out
}

/** RFC 8187 ext-value: `charset'language'pct-encoded`. Undefined when malformed. */
function decodeExtValue(value: string): string | undefined {
  const m = /^([\w!#$%&+^`{}~-]*)'[^']*'(.*)$/.exec(value.trim())
  if (m === null) return undefined
  const charset = (m[1] ?? '').toLowerCase()
  const encoded = m[2] ?? ''
  if (/%(?![0-9a-f]{2})/i.test(encoded)) return undefined
  const bytes = Buffer.from(encoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1')
  if (charset === 'iso-8859-1') return bytes.toString('latin1')
  if (charset !== 'utf-8') return undefined
  try {
    return fatalUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * HTTP parsers hand header bytes over as latin1, but many servers put raw UTF-8 in `filename=`.
 * Reinterpret when the bytes are valid UTF-8 (as browsers do); otherwise keep latin1.
 */
function latin1AsUtf8(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value
  try {
    return fatalUtf8.decode(Buffer.from(value, 'latin1'))
  } catch {
    return value
  }
}
