import { readFileSync, writeFileSync } from 'node:fs'

/**
 * The guest kernel's free page reporting (virtio-balloon): free memory is handed back to the
 * host in blocks of 2^order pages, and the next program to use those pages pays the host's page
 * faults inside its copies. Writing a new GiB into the page cache then cost 0.3 s in one run and
 * 1.1–1.8 s in the next (same command, same machine, minutes apart), whichever program was
 * measured: it was most of the noise of these benchmarks. An order above the largest the
 * allocator has (10 on x86-64) reports nothing.
 */
const ORDER = '/sys/module/page_reporting/parameters/page_reporting_order'
const REPORTED = '/sys/module/page_reporting/parameters/reported_kib'
const NEVER = '11'

/** What the run found and did: the order it set back, and the KiB the guest had reported before. */
export interface PageReporting {
  order: string
  reportedKiB: number
  /** It was off already when the run began (someone set the order to 11): nothing to set back. */
  alreadyOff?: boolean
}

/**
 * Stops free page reporting for the run when the machine has it and lets us (root), so every
 * contender writes into memory the guest still holds. Returns how to undo it, and what was found
 * (for the report); undefined where there is none to stop.
 */
export function holdPageReporting(): { found: PageReporting; restore(): void } | undefined {
  let order: string
  let reportedKiB: number
  try {
    order = readFileSync(ORDER, 'utf8').trim()
    reportedKiB = Number(readFileSync(REPORTED, 'utf8').trim())
  } catch {
    return undefined
  }
  // Off already (a session measuring by hand set it): still said in the report, left as found.
  if (order === NEVER) return { found: { order, reportedKiB, alreadyOff: true }, restore: () => undefined }
  try {
    writeFileSync(ORDER, `${NEVER}\n`)
  } catch {
    return undefined
  }
  return {
    found: { order, reportedKiB },
    restore: () => {
      try {
        writeFileSync(ORDER, `${order}\n`)
      } catch {
        // Not ours to fail the run over; a reboot restores it.
      }
    },
  }
}
