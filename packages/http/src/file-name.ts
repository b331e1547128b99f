/**
 * Longest name kept, in bytes: most filesystems take 255, and core stages beside the file as
 * `.NAME.haul`, which needs 6 more.
 */
const MAX_NAME_BYTES = 255 - '.'.length - '.haul'.length
const FALLBACK = 'download'

/**
 * Makes a remote-suggested name safe to create in the working folder: a base name only — no
 * path separators, no `..`, no control or NUL characters, no leading dots (no hidden or
 * parent-relative files), at most 249 bytes. Returns `download` when nothing usable is left.
 */
export function safeFileName(suggested: string | undefined, fallback = FALLBACK): string {
  if (suggested === undefined) return fallback
  // Keep only the last path segment, whatever separator the remote used.
  const last = suggested.split(/[/\\]/).filter((s) => s !== '').at(-1) ?? ''
  let name = last
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '')
  // Cut whole code points, so a surrogate pair is never split into an ill-formed name.
  const points = Array.from(name)
  while (Buffer.byteLength(name) > MAX_NAME_BYTES) name = name.slice(0, -points.pop()!.length)
  return name === '' ? fallback : name
}

/** The last non-empty path segment of a URL, percent-decoded when that is valid. */
export function nameFromUrl(url: URL): string | undefined {
  const segment = url.pathname.split('/').filter((s) => s !== '').at(-1)
  if (segment === undefined) return undefined
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}
