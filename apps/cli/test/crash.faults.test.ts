// The exhaustive crash sweep (`pnpm test:faults`): SIGKILL at every call of every listed syscall
// of one whole download, over HTTP with 1 and 4 connections and over IPFS, with and without an
// older file at the destination. crash-errors.faults.test.ts injects I/O errors and random kills.
// Each writes its figures to faults-summary-NAME.json at the root (FAULTS.md is made from them).
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  failures,
  httpScenario,
  ipfsScenario,
  MiB,
  ensureStrace,
  sweep,
  closeScenarios,
  writeSummary,
  type Scenario,
} from './crash-harness.js'

const strace = ensureStrace()

const SIZE = 12 * MiB
const KILL_SYSCALLS = ['openat', 'write', 'pwrite64', 'pwritev', 'fsync', 'fdatasync', 'rename', 'unlink', 'unlinkat', 'rmdir', 'ftruncate', 'mkdir']
const OLD = Buffer.from('the previous version of the file\n')
const summaryPath = fileURLToPath(new URL('../../../faults-summary-kill.json', import.meta.url))
const started = Date.now()

let scenarios: Scenario[] = []
beforeAll(async () => {
  scenarios = [await httpScenario(SIZE, 1), await httpScenario(SIZE, 4), await ipfsScenario(SIZE)]
})
afterAll(async () => {
  await closeScenarios(scenarios)
  await writeSummary(summaryPath, { started, fileBytes: SIZE, strace })
})

describe.skipIf(!strace.ok)('SIGKILL at every call', () => {
  for (const index of [0, 1, 2]) {
    for (const syscall of KILL_SYSCALLS) {
      it(`scenario ${index}, every ${syscall}: the old file or the whole new one, never anything else; the next run finishes within the bound`, async () => {
        const scenario = scenarios[index]!
        const results = await sweep(scenario, syscall, 'KILL', { alternatePrevious: OLD })
        expect(failures(results)).toEqual([])
      })
    }
  }
})

