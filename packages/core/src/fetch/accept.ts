import { HaulError } from '../errors.js'
import type { RemoteInfo, Source } from '../source.js'

/** What is known when a source answers a read. */
export interface ResponseFacts {
  readonly source: Source
  /** Whether `source` is the primary one, whose word on the file counts. */
  readonly primary: boolean
  /** The validator recorded for this source in the journal, if any. */
  readonly recorded: string | undefined
  /** What the source says about the remote now. */
  readonly info: RemoteInfo
  /** Where the bytes it sends start, and where they were asked for. */
  readonly offset: number
  readonly asked: number
  /** The file's size as known so far, and as given by the caller. */
  readonly size: number | undefined
  readonly expectedSize: number | undefined
}

/**
 * Checks what a source says against what is known: throws when the response must be refused
 * (another file, or a size the caller ruled out), and returns why the download must start over
 * from 0 when the remote changed or the source can't resume; undefined accepts it as it is.
 */
export function judgeResponse(f: ResponseFacts): string | undefined {
  const label = f.source.label
  if (f.offset !== f.asked && f.offset !== 0) {
    throw new HaulError('HAUL_INTERNAL', `Internal error: ${label} answered a read at ${f.asked} with bytes from ${f.offset}.`)
  }
  const authoritative = f.primary || f.recorded !== undefined
  const changed =
    (f.recorded !== undefined && f.info.validator !== undefined && f.info.validator !== f.recorded) ||
    (authoritative && f.info.size !== undefined && f.size !== undefined && f.info.size !== f.size && f.expectedSize === undefined)
  if (!authoritative && f.info.size !== undefined && f.size !== undefined && f.info.size !== f.size) {
    throw new HaulError('HAUL_SOURCE', `${label} has ${f.info.size} bytes, but the file is ${f.size} bytes: not the same file.`, { source: label, transient: false })
  }
  if (f.expectedSize !== undefined && f.info.size !== undefined && f.info.size !== f.expectedSize) {
    throw new HaulError('HAUL_SOURCE', `${label} has ${f.info.size} bytes, but ${f.expectedSize} were expected.`, { source: label, transient: false })
  }
  if (changed) return `${label} changed since the partial download was written; starting over`
  if (f.offset === 0 && f.asked > 0) return `${label} cannot resume; starting over from byte 0`
  return undefined
}
