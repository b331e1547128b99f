// The exhaustive fault sweep, part 2 (`pnpm test:faults`): an I/O error (EIO, ENOSPC, EACCES) at
// every call of the syscalls that write, flush, commit and open, and SIGKILL at random moments.
// Each writes its figures to faults-summary-NAME.json at the root (FAULTS.md is made from them).
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  failures,
  httpScenario,
  ipfsScenario,
  MiB,
  runRandomKill,
  ensureStrace,
  sweep,
  trials,
  violations,
  closeScenarios,
  writeSummary,
  type InjectAction,
  type Scenario,
} from './crash-harness.js'

const strace = ensureStrace()

const SIZE = 12 * MiB
const ERRORS: Array<[string, InjectAction]> = [
  ['write', 'EIO'],
  ['pwrite64', 'EIO'],
  ['pwrite64', 'EIO'],
  ['fsync', 'EIO'],
  ['rename', 'EIO'],
  ['write', 'ENOSPC'],
  ['pwrite64', 'ENOSPC'],
  ['openat', 'EACCES'],
]
const OLD = Buffer.from('the previous version of the file\n')
const summaryPath = fileURLToPath(new URL('../../../faults-summary-errors.json', import.meta.url))
const started = Date.now()

let scenarios: Scenario[] = []
beforeAll(async () => {
  scenarios = [await httpScenario(SIZE, 1)]
})
afterAll(async () => {
  await closeScenarios(scenarios)
  await writeSummary(summaryPath, { started, fileBytes: SIZE, strace })
})

describe.skipIf(!strace.ok)('I/O errors at every call', () => {
  for (const [syscall, action] of ERRORS) {
    it(`${action} at every ${syscall}: the documented exit status, the old file untouched`, async () => {
      const results = await sweep(scenarios[0]!, syscall, action, { previous: OLD })
      expect(failures(results)).toEqual([])
    })
  }
})

describe('SIGKILL at random moments', () => {
  it('20 kills per transport, with and without an older file', async () => {
    const paced = [await httpScenario(SIZE, 1, 12 * MiB), await httpScenario(SIZE, 4, 12 * MiB), await ipfsScenario(SIZE, 12 * MiB)]
    try {
      const broken: string[] = []
      for (const scenario of paced) {
        for (let i = 0; i < 20; i++) {
          const result = await runRandomKill(scenario, 0.02 + Math.random() * 0.96, i % 2 === 1 ? { previous: OLD } : {})
          trials.push(result)
          broken.push(...violations(result, undefined, scenario.connections).map((v) => `${scenario.name} ${result.fault}: ${v}`))
        }
      }
      expect(broken).toEqual([])
    } finally {
      await Promise.all(paced.map((s) => s.close()))
    }
  })
})
