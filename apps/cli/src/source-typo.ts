/** Schemes haul fetches, in the order a tie between two near misses is settled. */
const SCHEMES = ['https', 'http', 'ipfs'] as const
/** Real schemes that are not typos of ours: they get "unsupported", not "did you mean". */
const OTHER_SCHEMES = new Set(['ftp', 'ftps', 'sftp', 'file', 's3', 'gs', 'ssh', 'scp', 'rsync', 'data', 'git', 'ws', 'wss', 'ipns', 'magnet', 'mailto', 'javascript'])
/** A host name, IPv4 or bracketed IPv6, with a port or a path after it. */
const BARE_HOST = /^((?:[a-z0-9-]+\.)+[a-z]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])(:\d{1,5})?(\/.*)?$/i

/** Edits (insert, delete, substitute, swap two neighbours) between `a` and `b`. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}

/**
 * What the user probably meant by a SOURCE that is neither a URL haul fetches nor a CID:
 * `http//host/x` and `http:/host/x` (a lost colon or slash), `htp://…` (a scheme one edit from
 * http, https or ipfs), `example.com/f.bin` (no scheme at all; https, or http for localhost and
 * IP addresses). Undefined when nothing close comes to mind.
 */
export function suggestSource(text: string): string | undefined {
  const source = text.trim()
  const broken = /^(https?|ipfs)(?:\/\/|:\/(?!\/)|[;.,]\/\/)(.+)$/i.exec(source)
  if (broken !== null) return `${broken[1]!.toLowerCase()}://${broken[2]!}`
  const schemed = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(source)
  if (schemed !== null) {
    const scheme = schemed[1]!.toLowerCase()
    if ((SCHEMES as readonly string[]).includes(scheme) || OTHER_SCHEMES.has(scheme)) return undefined
    const near = SCHEMES.map((s) => ({ s, d: distance(scheme, s) })).filter((c) => c.d <= 1)
    return near.length === 0 ? undefined : `${near.sort((a, b) => a.d - b.d)[0]!.s}://${schemed[2]!}`
  }
  const host = BARE_HOST.exec(source)
  if (host === null) return undefined
  const [, name, port, path] = host
  const local = /^(localhost|\d|\[)/i.test(name!)
  if (!local && port === undefined && path === undefined && !/^www\./i.test(name!)) return undefined
  return `${local ? 'http' : 'https'}://${source}`
}
