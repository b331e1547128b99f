import { readFileSync } from 'node:fs'
import { uptime } from 'node:os'

let kernel: string | undefined
let cached: string | undefined

/** Linux's random id of the running boot, read once; '' where there is none. */
export function kernelBootId(): string {
  if (kernel !== undefined) return kernel
  try {
    kernel = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    kernel = ''
  }
  return kernel
}

/**
 * An id of the machine's running boot: what a page cache's contents belong to. Linux's random
 * boot id; elsewhere the boot time to the minute (a reading near a minute's edge may differ from
 * the next, which only makes a journal trust less).
 */
export function bootId(): string {
  cached ??= kernelBootId() || `boot-time-${Math.round((Date.now() / 1000 - uptime()) / 60)}`
  return cached
}
