import { HaulError } from '@haul/core'
import { CID } from 'multiformats/cid'
import { integrityError } from './errors.js'
import { PATH_CODECS } from './input.js'

/** Whether a block of this codec is walked by the IPLD data model's pathing rather than UnixFS's. */
export function isPathCodec(cid: CID): boolean {
  return PATH_CODECS.has(cid.code)
}

/** Decodes a verified dag-cbor or dag-json block (the codecs load on first use: most downloads never need them). */
async function decodeData(cid: CID, bytes: Uint8Array, label: string): Promise<unknown> {
  try {
    const codec = cid.code === 0x71 ? await import('@ipld/dag-cbor') : await import('@ipld/dag-json')
    return codec.decode(bytes)
  } catch (err) {
    throw integrityError(`Block ${cid.toString()} is not valid ${cid.code === 0x71 ? 'dag-cbor' : 'dag-json'}.`, label, err)
  }
}

/**
 * Follows `path` inside a verified dag-cbor or dag-json node, as the IPFS path rules say for the
 * IPLD data model: a segment names a key of a map, or an index of a list. Stops at the first link,
 * which is where the path goes on (`rest` is what is left of it), so that the next block is
 * verified against that link's CID before it is read. A path that ends on anything but a link, or
 * names what is not there, is HAUL_USAGE: there is no UnixFS file at it.
 */
export async function followIpldPath(cid: CID, bytes: Uint8Array, path: readonly string[], label: string): Promise<{ link: CID; rest: string[] }> {
  let value = await decodeData(cid, bytes, label)
  for (let i = 0; i <= path.length; i++) {
    const link = CID.asCID(value)
    if (link !== null) return { link, rest: path.slice(i) }
    const segment = path[i]
    if (segment === undefined) break
    const next = child(value, segment)
    if (next === undefined) {
      throw new HaulError('HAUL_USAGE', `There is no ${JSON.stringify(segment)} in ${cid.toString()} (at /${path.slice(0, i + 1).join('/')}); check the path.`, { source: cid.toString() })
    }
    value = next
  }
  throw new HaulError('HAUL_USAGE', `The path /${path.join('/')} ends inside ${cid.toString()} at a value that is not a link, so it names no UnixFS file; haul downloads UnixFS files.`, { source: cid.toString() })
}

/** A map's entry or a list's element named by one path segment, or undefined. */
function child(value: unknown, segment: string): unknown {
  if (Array.isArray(value)) return /^(0|[1-9]\d*)$/.test(segment) ? value[Number(segment)] : undefined
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return undefined
  return Object.prototype.hasOwnProperty.call(value, segment) ? (value as Record<string, unknown>)[segment] : undefined
}
