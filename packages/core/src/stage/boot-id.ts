import { readFileSync } from 'node:fs'
import { uptime } from 'node:os'

let cached: string | undefined

/**
 * An id of the machine's running boot: what a page cache's contents belong to. Linux's random
 * boot id; elsewhere the boot time to the minute (a reading near a minute's edge may differ from
 * the next, which only makes a journal trust less).
 */
export function bootId(): string {
  if (cached !== undefined) return cached
  try {
    cached = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    cached = ''
  }
  if (cached === '') cached = `boot-time-${Math.round((Date.now() / 1000 - uptime()) / 60)}`
  return cached
}
