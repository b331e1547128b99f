import { HaulError } from '@haul/core'

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 }

/**
 * Parses a size such as `500M`, `10GiB`, `2GB` or `1048576`: K, M, G and T alone are binary, as
 * in curl and aria2c (1K = 1024); KB, MB… are decimal. `option` names the flag in the error.
 */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()]
  if (m === null || unit === undefined) throw new HaulError('HAUL_USAGE', `${option} takes a size such as 500K, 2M or 10GiB, got "${text}".`)
  return Math.floor(Number(m[1]) * unit)
}

/** Parses a rate in bytes a second: a size as {@link parseSize} takes, optionally ending in `/s`; more than 0. */
export function parseRate(text: string, option: string): number {
  const rate = parseSize(text.replace(/\/s$/i, ''), option)
  if (rate <= 0) throw new HaulError('HAUL_USAGE', `${option} takes a rate above 0 bytes a second (e.g. 500K or 2M), got "${text}".`)
  return rate
}
