/** Longest file name most filesystems accept, in bytes. */
const MAX_NAME_BYTES = 255
const FALLBACK = 'download'

/**
 * Makes a remote-suggested name safe to create in the working folder: a base name only — no
 * path separators, no `..`, no control or NUL characters, no leading dots (no hidden or
 * parent-relative files), at most 255 bytes. Returns `download` when nothing usable is left.
 */
export function safeFileName(suggested: string | undefined): string {
  if (suggested === undefined) return FALLBACK
  // Keep only the last path segment, whatever separator the remote used.
  const last = suggested.split(/[/\\]/).filter((s) => s !== '').at(-1) ?? ''
  let name = last
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '')
  while (Buffer.byteLength(name) > MAX_NAME_BYTES) name = name.slice(0, -1)
  return name === '' ? FALLBACK : name
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
