import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startOrigin, spawnChild, spawnNode, killChildren, type Origin, type SpawnedChild } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_CHECKPOINT_BYTES } from '../src/index.js'
import { testBytes } from './helpers/memory-source.js'

const CHILD = fileURLToPath(new URL('./fixtures/fetch-child.mjs', import.meta.url))
const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-proc-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

function fetchChild(url: string, out: string, ...extra: string[]): SpawnedChild {
  return spawnNode(CHILD, [url, out, ...extra], { timeoutMs: 60_000 })
}

const progressAtLeast = (bytes: number) => (e: Record<string, unknown>) => e.event === 'progress' && (e.bytes as number) >= bytes

describe('several processes, one destination', () => {
  it('8 processes at once: one fetch, eight successes, one identical file', async () => {
    const data = testBytes(16 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 16 * MiB })
    const out = join(dir, 'f')
    const children = Array.from({ length: 8 }, () => fetchChild(origin!.url('/f'), out))
    const exits = await Promise.all(children.map((c) => c.waitForExit({ timeoutMs: 60_000 })))
    expect(exits.map((e) => e.code)).toEqual(Array(8).fill(0))
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(origin.log.filter((r) => r.method === 'GET')).toHaveLength(1)
    expect(origin.bytesSent('/f')).toBe(data.length)
    const waited = children.filter((c) => c.events.some((e) => e.event === 'wait')).length
    expect(waited).toBe(7)
    for (const c of children) expect(c.events.at(-1)).toMatchObject({ event: 'done', sha256: sha256(data) })
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('a SIGKILLed holder: the waiter takes over at once and resumes the partial', async () => {
    const data = testBytes(32 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 16 * MiB })
    const out = join(dir, 'f')
    const holder = fetchChild(origin.url('/f'), out)
    await holder.waitForEvent(progressAtLeast(10 * MiB), { timeoutMs: 30_000 })
    const waiter = fetchChild(origin.url('/f'), out)
    await waiter.waitForEvent('wait', { timeoutMs: 30_000 })
    const killedAt = Date.now()
    holder.signal('SIGKILL')
    const start = await waiter.waitForEvent<{ t: number; resumedFrom: number }>('start', { timeoutMs: 30_000 })
    const takeoverMs = start.t - killedAt
    expect(await waiter.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(start.resumedFrom).toBeGreaterThanOrEqual(10 * MiB - DEFAULT_CHECKPOINT_BYTES)
    const refetched = origin.bytesSent('/f') - data.length
    console.log(`takeover after SIGKILL: ${takeoverMs} ms (includes re-checking ${(start.resumedFrom / MiB).toFixed(1)} MiB of journal ranges); re-fetched ${(refetched / MiB).toFixed(2)} MiB`)
    expect(takeoverMs).toBeLessThan(5000)
    // What the holder received but had not yet recorded, plus what sat in socket buffers.
    expect(refetched).toBeLessThanOrEqual(DEFAULT_CHECKPOINT_BYTES + 4 * MiB)
  })

  it('adopts the partial of a killed writer that is still a zombie (its parent has not reaped it)', async () => {
    const data = testBytes(16 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 8 * MiB })
    const out = join(dir, 'f')
    // The shell starts the writer, then becomes `sleep`, which never waits for its children.
    const parent = spawnChild('sh', ['-c', `"${process.execPath}" "${CHILD}" "${origin.url('/f')}" "${out}" & echo "pid=$!"; exec sleep 60`], { timeoutMs: 60_000 })
    const pid = Number((await parent.waitForLine(/^pid=\d+$/)).slice(4))
    await parent.waitForEvent(progressAtLeast(4 * MiB), { timeoutMs: 30_000 })
    process.kill(pid, 'SIGKILL')
    await expect.poll(() => readFile(`/proc/${pid}/stat`, 'utf8').then((s) => s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3)), { timeout: 10_000 }).toBe('Z')
    const next = fetchChild(origin.url('/f'), out)
    expect(await next.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    expect((next.events[0] as { resumedFrom: number }).resumedFrom).toBeGreaterThanOrEqual(4 * MiB - DEFAULT_CHECKPOINT_BYTES)
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(await readdir(dir)).toEqual(['f'])
  })

  it('a SIGSTOPped holder keeps the lock: the waiter makes no request until it resumes', async () => {
    const data = testBytes(8 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 4 * MiB })
    const out = join(dir, 'f')
    const holder = fetchChild(origin.url('/f'), out)
    await holder.waitForEvent(progressAtLeast(MiB), { timeoutMs: 30_000 })
    const waiter = fetchChild(origin.url('/f'), out)
    await waiter.waitForEvent('wait', { timeoutMs: 30_000 })
    holder.signal('SIGSTOP')
    const requestsWhileStopped = origin.requests
    // The condition under test is "stopped for several seconds", so this wait is the test itself.
    await new Promise((r) => setTimeout(r, 3000))
    expect(origin.requests).toBe(requestsWhileStopped)
    expect(waiter.events.some((e) => e.event === 'start')).toBe(false)
    expect(waiter.exitStatus).toBeUndefined()
    holder.signal('SIGCONT')
    expect(await holder.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    expect(await waiter.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    expect(waiter.events.at(-1)).toMatchObject({ event: 'done', cached: true })
    expect(origin.log.filter((r) => r.method === 'GET')).toHaveLength(1)
  })

  it('SIGKILL at random moments across many runs: the destination is only ever absent or whole', async () => {
    const data = testBytes(8 * MiB)
    const digest = sha256(data)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 32 * MiB })
    const out = join(dir, 'f')
    let seed = 12345
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    let kills = 0
    for (let run = 0; run < 24; run++) {
      const child = fetchChild(origin.url('/f'), out, '--sha256', digest)
      const delay = Math.floor(random() * 400)
      const timer = setTimeout(() => child.signal('SIGKILL'), delay)
      const exit = await child.waitForExit({ timeoutMs: 30_000 })
      clearTimeout(timer)
      if (exit.signal === 'SIGKILL') kills++
      const present = await readFile(out).catch(() => undefined)
      if (present !== undefined) expect(sha256(present)).toBe(digest)
      // A killed holder may leave its lone partial, its staging folder and the folder's lock file.
      expect((await readdir(dir)).every((n) => ['f', '.f.haul', '.haul.lock'].includes(n) || /^\.f\.haul\.[0-9a-f]{9,}\.part$/.test(n))).toBe(true)
      if (present !== undefined) await rm(out)
    }
    expect(kills).toBeGreaterThan(8)
    const last = fetchChild(origin.url('/f'), out, '--sha256', digest)
    expect(await last.waitForExit({ timeoutMs: 30_000 })).toMatchObject({ code: 0 })
    expect(sha256(await readFile(out))).toBe(digest)
    expect(await readdir(dir)).toEqual(['f'])
  }, 180_000)
})
