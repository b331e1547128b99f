import { HaulError } from '../errors.js'
import type { RemoteInfo, Source } from '../source.js'

/** What is known when a source answers a read. */
export interface ResponseFacts {
  readonly source: Source
  /** Whether `source` is the primary one, whose word on the file counts. */
  readonly primary: boolean
  /** The validator recorded for this source in the journal, if any. */
  readonly recorded: string | undefined
  /** Every validator recorded for the staged bytes, whichever source (URL, mirror) said it. */
  readonly known: ReadonlySet<string>
  /** The validator the read was made conditional on, if any (the source then vouches for a range it serves). */
  readonly sent: string | undefined
  /**
   * Bytes are staged that nothing has shown to belong to the file the sources serve now: kept
   * from an earlier run, or from a response that carried no validator, with no digest to check
   * them against. This response must then prove they are the same file, or they are thrown away.
   */
  readonly unproven: boolean
  /** An expected digest is checked before the commit: it vouches where no validator does. */
  readonly digest: boolean
  /** What the source says about the remote now. */
  readonly info: RemoteInfo
  /** Where the bytes it sends start, and where they were asked for. */
  readonly offset: number
  readonly asked: number
  /** The file's size as known so far, and as given by the caller. */
  readonly size: number | undefined
  readonly expectedSize: number | undefined
}

/** What to do with a response. */
export type Verdict =
  /** Use it; `vouchedBy` says what showed unproven staged bytes to be of this file. */
  | { readonly restart?: undefined; readonly vouchedBy?: 'validator' | 'digest' }
  /** Throw the staged bytes away; a response from byte 0 goes on as the file's body. */
  | { readonly restart: string }

/**
 * Checks what a source says against what is known: throws when the response must be refused
 * (another file, or a size the caller ruled out); says why the staged bytes must be thrown away
 * when the remote changed, the source can't resume, or nothing proves the staged bytes belong to
 * the file it serves now; otherwise accepts it.
 *
 * Staged bytes and a response belong together when the response carries a validator the staged
 * bytes were recorded under (a strong ETag, a Last-Modified a second old, a CID: the same bytes,
 * whichever URL or query served them), or when the read was conditional on one and the source
 * served the range (HTTP If-Range, or a bare Range whose 206 shows the same date). Without that,
 * only a digest checked before the commit can vouch for them.
 */
export function judgeResponse(f: ResponseFacts): Verdict {
  const label = f.source.label
  if (f.offset !== f.asked && f.offset !== 0) {
    throw new HaulError('HAUL_INTERNAL', `Internal error: ${label} answered a read at ${f.asked} with bytes from ${f.offset}.`)
  }
  const current = f.info.validator
  const authoritative = f.primary || f.recorded !== undefined
  const changed =
    (f.recorded !== undefined && current !== undefined && current !== f.recorded) ||
    (authoritative && f.info.size !== undefined && f.size !== undefined && f.info.size !== f.size && f.expectedSize === undefined)
  if (!authoritative && f.info.size !== undefined && f.size !== undefined && f.info.size !== f.size) {
    throw new HaulError('HAUL_SOURCE', `${label} has ${f.info.size} bytes, but the file is ${f.size} bytes: not the same file.`, { source: label, transient: false })
  }
  if (f.expectedSize !== undefined && f.info.size !== undefined && f.info.size !== f.expectedSize) {
    throw new HaulError('HAUL_SOURCE', `${label} has ${f.info.size} bytes, but ${f.expectedSize} were expected.`, { source: label, transient: false })
  }
  if (changed) return { restart: `${label} changed since the staged bytes were fetched` }
  if (f.offset === 0 && f.asked > 0) return { restart: `${label} answered with the whole file instead of the range asked for` }
  if (!f.unproven) return {}
  if ((current !== undefined && f.known.has(current)) || (current === undefined && f.sent !== undefined)) return { vouchedBy: 'validator' }
  if (f.digest) return { vouchedBy: 'digest' }
  const why =
    f.known.size === 0
      ? 'the staged bytes came without a validator (ETag, Last-Modified)'
      : current === undefined
        ? `${label} sends no validator`
        : `${label} shows ${current}, not the validator they were fetched under`
  return { restart: `nothing shows the staged bytes belong to the file ${label} serves now: ${why}` }
}
