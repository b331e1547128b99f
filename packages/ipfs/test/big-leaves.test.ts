// Leaves of 512 KiB and more (Kubo's unixfs-v1-2025 profile chunks at 1 MiB) once made the CAR
// reader wait forever on a settled read, at 100% CPU, deaf to SIGTERM. The CLI runs as a child
// process here, so such a spin would fail the test (by its timeout) instead of freezing it.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killChildren, testBytes, trackGateways, UnixfsStore, type FileProfile } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haul } from './haul-cli.js'

const KiB = 1024
const MiB = 1024 * KiB
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const gateways = trackGateways({ lifetimeMs: 60_000 })
let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-ipfs-leaves-'))
})
afterEach(async () => {
  await killChildren()
  await gateways.closeAll()
  await rm(dir, { recursive: true, force: true })
})

const cases: Array<{ leaf: number; profile: FileProfile; mode: 'CAR' | 'raw' }> = []
for (const leaf of [512 * KiB, MiB]) for (const mode of ['CAR', 'raw'] as const) cases.push({ leaf, profile: leaf === MiB ? 'raw-leaves' : 'kubo', mode })

describe('files with big leaves', () => {
  for (const { leaf, profile, mode } of cases) {
    it(`${leaf / KiB} KiB leaves (${profile}), ${mode}: SIGTERM while it waits on the gateway exits 143, and the next run finishes the file`, async () => {
      const store = new UnixfsStore()
      const content = testBytes(12 * MiB + 333)
      const cid = await store.addFile(content, { profile, chunkSize: leaf })
      const noCar = mode === 'raw' ? { noCar: true as const } : {}
      const g = await gateways.start({ store, fault: { rateBytesPerSecond: 2 * MiB, ...noCar } })
      const args = ['get', `ipfs://${cid}`, '-o', 'f.bin', '--gateway', g.url, '--json']
      const first = haul(args, dir)
      // Bytes arrive: the reader is not spinning at the start (it once printed nothing at all).
      await first.waitForEvent((e) => e.event === 'progress' && (e.bytes as number) >= leaf, { timeoutMs: 30_000 })
      first.signal('SIGTERM')
      expect(await first.waitForExit({ timeoutMs: 10_000 })).toMatchObject({ code: 143 })
      expect(first.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_ABORTED' })
      g.setFaults([], noCar)
      const second = haul(args, dir)
      expect(await second.waitForExit({ timeoutMs: 30_000 })).toMatchObject({ code: 0 })
      expect(second.events[0]).toMatchObject({ event: 'start', resumedFrom: expect.any(Number) })
      expect((second.events[0]?.resumedFrom as number) > 0).toBe(true)
      expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(content))
    })
  }
})
