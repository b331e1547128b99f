import { HaulError } from '@haul/core'
import { parseHttpUrl } from './download.js'
import { nameFromUrl, safeFileName } from './file-name.js'
import type { FirstAnswer } from './first-answer.js'
import { HttpSource } from './http-source.js'
import { splitTransportOptions, type TransportOptions } from './transport.js'

/** Options for {@link suggestFileName}: the transport's, plus the request's headers and signal. */
export interface SuggestFileNameOptions extends TransportOptions {
  /**
   * Request headers, as for the download (credentials go to the URL's origin only).
   * @default {}
   */
  headers?: Record<string, string>
  /** Aborts the probe. @default undefined (never) */
  signal?: AbortSignal
}

/** A name with an extension: `model.onnx`, `archive.tar.gz` (not `.bashrc`, not `pub`). */
const HAS_EXTENSION = /[^.]\.[^.]+$/

/**
 * The name to save `url` under when the caller names none: the remote's Content-Disposition
 * file name, else the URL's last path segment, made safe for the working folder (a base name:
 * no separators, `..`, control characters or leading dots; `download` when nothing is left).
 * Sends one probe (HEAD, or a one-byte GET where HEAD is refused); a probe that fails leaves the
 * name to the URL, since the download itself reports what is wrong with the source.
 *
 * A folder is not a file name: without a Content-Disposition name, a URL whose path ends in `/`
 * (an HTML listing, usually), or an HTML answer to a URL whose name has no extension (a
 * directory listing, a login page), fails with HAUL_USAGE instead of saving a page under a
 * made-up name; naming the output (`-o NAME`) saves it anyway.
 * @throws HaulError — `HAUL_USAGE` for a folder or a URL that is not http(s); `HAUL_ABORTED`.
 */
export async function suggestFileName(url: string | URL, options: SuggestFileNameOptions = {}): Promise<string> {
  const { target, source, signal } = namingSource(url, options)
  let suggested: string | undefined
  let contentType: string | undefined
  try {
    suggested = (await source.probe(signal ?? new AbortController().signal)).fileName
    contentType = source.contentType
  } catch (err) {
    if (signal?.aborted) throw err
  } finally {
    await source.close()
  }
  return chooseFileName(target, suggested, contentType)
}

/** What {@link openNamed} found: the file's name, and the answer its download reads first. */
export interface NamedUrl {
  /** The name to save the URL under, as {@link suggestFileName} chooses it. */
  name: string
  /**
   * The GET's answer, for `download(url, { answer })`, which reads its body instead of asking
   * again and closes it. Undefined when the GET failed (the download asks again and reports why).
   * A caller that does not download must `close()` it.
   */
  answer: FirstAnswer | undefined
}

/**
 * Names `url` as {@link suggestFileName} does, from the answer to the GET that downloads it
 * rather than from a HEAD first (as aria2c does): the download given that answer sends no request
 * of its own for a file of up to {@link FIRST_ANSWER_MAX_BYTES}, so naming costs nothing. A
 * bigger file's answer names it and is dropped (the download's own GET lands its body in the
 * transaction's buffers). When the name can't be used (a folder, an HTML page) the answer is
 * closed before the HAUL_USAGE error.
 * @throws HaulError — `HAUL_USAGE` for a folder or a URL that is not http(s); `HAUL_ABORTED`.
 */
export async function openNamed(url: string | URL, options: SuggestFileNameOptions = {}): Promise<NamedUrl> {
  const { target, source, signal } = namingSource(url, options)
  let answer: FirstAnswer | undefined
  try {
    answer = await source.openFirst(signal ?? new AbortController().signal)
  } catch (err) {
    if (signal?.aborted) throw err
  }
  let name: string
  try {
    name = chooseFileName(target, answer?.fileName, answer?.contentType)
  } catch (err) {
    await answer?.close()
    throw err
  }
  // An answer whose body was dropped (too big, or not the file) has nothing left to give.
  if (answer?.pending !== true) {
    await answer?.close()
    return { name, answer: undefined }
  }
  return { name, answer }
}

/** The source that names `url` (its caller closes it), with the caller's signal. */
function namingSource(url: string | URL, options: SuggestFileNameOptions): { target: URL; source: HttpSource; signal: AbortSignal | undefined } {
  const target = parseHttpUrl(String(url))
  const { transport, rest } = splitTransportOptions(options)
  const source = new HttpSource(target, { ...transport, ...(rest.headers === undefined ? {} : { headers: rest.headers }) })
  return { target, source, signal: rest.signal }
}

/** The name for `target` given what its answer said (nothing, when it failed). */
function chooseFileName(target: URL, suggested: string | undefined, contentType: string | undefined): string {
  // Errors name the URL without its user:password.
  const shown = new URL(target)
  shown.username = ''
  shown.password = ''
  const offered = safeFileName(suggested, '')
  if (offered !== '') return offered
  const fromUrl = nameFromUrl(target)
  if (target.pathname.endsWith('/')) {
    throw new HaulError(
      'HAUL_USAGE',
      `${shown.href} names a folder (the path ends in "/"), and servers answer that with an HTML listing, not a file. Give the file's URL, or save the page anyway under a name of your choice with -o NAME.`,
      { source: shown.href },
    )
  }
  if (/^\s*text\/html\b/i.test(contentType ?? '') && !HAS_EXTENSION.test(fromUrl ?? '')) {
    throw new HaulError(
      'HAUL_USAGE',
      `${shown.href} answered with an HTML page, and ${JSON.stringify(fromUrl ?? '')} has no file extension: most likely a directory listing or a login page, not the file. Check the URL, or save the page anyway with -o NAME.`,
      { source: shown.href },
    )
  }
  return safeFileName(fromUrl)
}
