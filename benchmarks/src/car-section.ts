/**
 * What the CAR floors (node-car-floor.ts, node-car-socket-floor.ts) read of a section: its CIDv1
 * head, for a raw or dag-pb block under sha2-256 — what the bench's gateway sends — and nothing
 * more.
 */

const RAW = 0x55
const SHA2_256 = 0x12

/** An unsigned varint at `at`: its value and where it ends; -1 when it is not all there. */
export function varint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0
  for (let shift = 0, i = at; i < bytes.length && i < at + 9; i++, shift += 7) {
    const byte = bytes[i]!
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return [value, i + 1]
  }
  return [-1, at]
}

/** A whole section's CID: whether the block is a raw leaf, the digest its CID names, where the block starts. */
export interface SectionHead {
  leaf: boolean
  digest: Uint8Array
  blockAt: number
}

/** Reads the CIDv1 in front of a section's block; a message for anything else. */
export function sectionHead(section: Uint8Array): SectionHead | string {
  const [version, afterVersion] = varint(section, 0)
  if (version !== 1) return `CID version ${version}; the CAR floors read CIDv1 only`
  const [codec, afterCodec] = varint(section, afterVersion)
  const [code, afterCode] = varint(section, afterCodec)
  const [size, digestAt] = varint(section, afterCode)
  if (code !== SHA2_256 || size !== 32) return `multihash 0x${code.toString(16)}; the CAR floors read sha2-256 only`
  const blockAt = digestAt + 32
  if (blockAt > section.length) return 'a section shorter than its CID'
  return { leaf: codec === RAW, digest: section.slice(digestAt, blockAt), blockAt }
}
