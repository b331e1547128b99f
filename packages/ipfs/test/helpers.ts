import type { ReadResponse } from '@haul/core'

/** Unsigned LEB128, as CAR section lengths and multiformats prefixes are written. */
export function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A body's bytes up to its end or its error, and the error (undefined when it ended cleanly). */
export async function readUntilError(response: ReadResponse): Promise<{ bytes: Buffer; error: unknown }> {
  const parts: Uint8Array[] = []
  try {
    for await (const chunk of response.body) parts.push(chunk)
    return { bytes: Buffer.concat(parts), error: undefined }
  } catch (error) {
    return { bytes: Buffer.concat(parts), error }
  }
}
