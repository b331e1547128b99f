// The bounded form of the crash harness (crash-harness.ts), run by `pnpm test`: SIGKILL at a
// sample of syscalls — every 3rd-23rd of the frequent ones from a random offset, every one of the rare
// ones. crash-fs.test.ts adds random kills, injected I/O errors and real filesystems; the
// exhaustive sweep is crash.faults.test.ts (`pnpm test:faults`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeScenarios, failures, httpScenario, ipfsScenario, MiB, straceAvailable, summarize, sweep, trials, type Scenario } from './crash-harness.js'

const strace = straceAvailable()
if (!strace.ok) console.warn(`crash-sample: skipping the strace trials: ${strace.reason}`)

const SIZE = 6 * MiB
const offset = 1 + Math.floor(Math.random() * 1000)
/** Frequent calls: every 7th; rare ones (a handful per download): every one. */
const ALL: Array<[string, number]> = [
  ['openat', 11],
  ['write', 11],
  ['pwrite64', 3],
  ['pwrite64', 1],
  ['fsync', 1],
  ['rename', 1],
  ['unlink', 1],
]
/** The other transports: the calls that write the partial, and the commit. */
const COMMIT: Array<[string, number]> = [
  ['pwrite64', 3],
  ['fsync', 1],
  ['unlink', 1],
]
const OLD = Buffer.from('the previous version of the file\n')

let scenarios: Scenario[] = []
beforeAll(async () => {
  scenarios = [await httpScenario(SIZE, 1), await httpScenario(SIZE, 4), await ipfsScenario(SIZE)]
})
afterAll(async () => {
  console.log(`crash-sample: ${JSON.stringify(summarize(trials).rows)}`)
  await closeScenarios(scenarios)
})

describe.skipIf(!strace.ok)(`SIGKILL at a sample of syscalls (strace inject, offset seed ${offset})`, () => {
  for (const [index, name, calls] of [[0, 'http -x 1', ALL], [1, 'http -x 4', COMMIT], [2, 'ipfs', COMMIT]] as const) {
    it(`${name}: the destination is absent, the old file or the whole new one; the next run finishes, losing at most the bound`, async () => {
      const scenario = scenarios[index]!
      const broken: string[] = []
      let fired = 0
      for (const [syscall, stride] of calls) {
        const results = await sweep(scenario, syscall, 'KILL', { stride, first: stride === 1 ? 1 : 1 + ((offset - 1) % stride), alternatePrevious: OLD })
        fired += results.filter((r) => r.result.fired).length
        broken.push(...failures(results))
      }
      expect(broken).toEqual([])
      expect(fired).toBeGreaterThan(5)
    }, 180_000)
  }
})

