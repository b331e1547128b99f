import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rename, rm, stat, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_CHECKPOINT_BYTES } from '@haul/core'
import { killChildren, startOrigin, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-cli-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

const progressAtLeast = (bytes: number) => (e: Record<string, unknown>) => e.event === 'progress' && (e.bytes as number) >= bytes

describe('haul get URL', () => {
  it('downloads with --json: start, progress, done as the last line; exit 0; only the file is left', async () => {
    const data = testBytes(3 * MiB)
    origin = await startOrigin({ files: { '/m.bin': data } })
    const child = haul(['get', origin.url('/m.bin'), '-o', 'out.bin', '--sha256', sha256(data), '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    const events = child.events
    expect(events[0]).toMatchObject({ event: 'start', source: origin.url('/m.bin'), output: join(dir, 'out.bin'), resumedFrom: 0 })
    expect(events.at(-1)).toEqual({ event: 'done', path: join(dir, 'out.bin'), bytes: data.length, sha256: sha256(data) })
    expect(child.lines.every((l) => JSON.parse(l).event !== undefined)).toBe(true)
    expect(await readdir(dir)).toEqual(['out.bin'])
  })

  it('checks --checksum blake3 and blake2b-512 (hash-wasm, loaded by the bundled CLI at run time): right ones exit 0, a wrong one exits 4 and saves nothing', async () => {
    const data = testBytes(256 * 1024, 3)
    origin = await startOrigin({ files: { '/b.bin': data } })
    const { createBLAKE3, createBLAKE2b } = await import('hash-wasm')
    const digest = async (make: () => ReturnType<typeof createBLAKE3>): Promise<string> => (await make()).init().update(data).digest('hex')
    const blake3 = await digest(createBLAKE3)
    const blake2b = await digest(() => createBLAKE2b(512))
    for (const checksum of [`blake3:${blake3}`, `blake2b-512:${blake2b}`]) {
      const ok = haul(['get', origin.url('/b.bin'), '-o', 'ok.bin', '--checksum', checksum, '-q'], dir)
      expect(await ok.waitForExit(), checksum).toMatchObject({ code: 0 })
      expect(sha256(await readFile(join(dir, 'ok.bin')))).toBe(sha256(data))
    }
    const wrong = haul(['get', origin.url('/b.bin'), '-o', 'bad.bin', '--checksum', `blake3:${'0'.repeat(64)}`, '-q'], dir)
    expect(await wrong.waitForExit()).toMatchObject({ code: 4 })
    expect(await readdir(dir)).toEqual(['ok.bin'])
  })

  it('hashes a file over the small-digest threshold on the hash thread (its program survives the bundle): exit 0, right sha256, no internal error', async () => {
    const data = testBytes(24 * MiB, 5)
    origin = await startOrigin({ files: { '/big.bin': data } })
    const child = haul(['get', origin.url('/big.bin'), '-o', 'big.bin', '--sha256', sha256(data), '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.events.at(-1)).toMatchObject({ event: 'done', sha256: sha256(data) })
  })

  it('names the file from Content-Disposition, made safe, inside the working folder', async () => {
    origin = await startOrigin({
      files: {
        '/a': { body: 'x', contentDisposition: `attachment; filename="../../etc/passwd"; filename*=UTF-8''..%2F..%2F%E2%82%AC%20rates.txt` },
        '/dir/plain%20name.txt': 'y',
        '/ctrl': { body: 'z', contentDisposition: "attachment; filename*=UTF-8''%01.hidden%00name%1b[31m" },
      },
    })
    for (const path of ['/a', '/dir/plain%20name.txt', '/ctrl']) {
      expect(await haul(['get', origin.url(path), '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
    }
    expect((await readdir(dir)).sort()).toEqual(['hiddenname[31m', 'plain name.txt', '€ rates.txt'])
  })

  it('SIGKILL at ~45%, run again: the final path never exists in between and at most 1.10x is sent', async () => {
    // A kill loses at most one journal checkpoint plus two write batches; 10% of 64 MiB covers that.
    const data = testBytes(64 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 32 * MiB })
    const first = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    await first.waitForEvent(progressAtLeast(Math.floor(data.length * 0.45)), { timeoutMs: 30_000 })
    first.signal('SIGKILL')
    await first.waitForExit()
    await expect(stat(join(dir, 'f'))).rejects.toThrow()
    origin.setFault(undefined)
    const second = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    expect(await second.waitForExit()).toMatchObject({ code: 0 })
    expect(second.events[0]).toMatchObject({ event: 'start' })
    expect((second.events[0] as { resumedFrom: number }).resumedFrom).toBeGreaterThanOrEqual(data.length * 0.45 - DEFAULT_CHECKPOINT_BYTES - 2 * MiB)
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(origin.bytesSent('/f')).toBeLessThanOrEqual(data.length * 1.1)
  })

  it('SIGINT exits 130 keeping the partial; SIGTERM exits 143; the next run resumes (at most 1.10x)', async () => {
    const data = testBytes(24 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 16 * MiB })
    const first = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    await first.waitForEvent(progressAtLeast(6 * MiB), { timeoutMs: 30_000 })
    first.signal('SIGINT')
    expect(await first.waitForExit()).toMatchObject({ code: 130 })
    expect(first.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_ABORTED' })
    const second = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    await second.waitForEvent(progressAtLeast(12 * MiB), { timeoutMs: 30_000 })
    second.signal('SIGTERM')
    expect(await second.waitForExit()).toMatchObject({ code: 143 })
    const third = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    expect(await third.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(origin.bytesSent('/f')).toBeLessThanOrEqual(data.length * 1.1)
  })

  it('404: exit 3 within a second or two, naming the status, nothing left behind', async () => {
    origin = await startOrigin({ files: {} })
    const started = Date.now()
    const child = haul(['get', origin.url('/missing'), '-o', 'f'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 3 })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(child.stderr).toMatch(/404/)
    expect(await readdir(dir)).toEqual([])
  })

  it('a 1 PiB Content-Length: exit 5 before downloading, saying how much to free', async () => {
    origin = await startOrigin({ files: { '/huge': 'tiny' }, fault: () => ({ contentLength: 2 ** 50 }) })
    const child = haul(['get', origin.url('/huge'), '-o', 'f', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 5 })
    expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_NO_SPACE', message: expect.stringMatching(/Free at least/) })
    expect(await readdir(dir)).toEqual([])
  })

  it('a digest mismatch: exit 4, the previous file untouched, no staging left', async () => {
    origin = await startOrigin({ files: { '/f': testBytes(MiB) } })
    const child = haul(['get', origin.url('/f'), '-o', 'f', '--sha256', 'b'.repeat(64)], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 4 })
    expect(child.stderr).toMatch(/do not match/)
    expect(await readdir(dir)).toEqual([])
  })

  it('8 processes on one URL and path: at most 1.2x sent, all exit 0', async () => {
    const data = testBytes(16 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 16 * MiB })
    const children = Array.from({ length: 8 }, () => haul(['get', origin!.url('/f'), '-o', 'f', '--json'], dir))
    const exits = await Promise.all(children.map((c) => c.waitForExit()))
    expect(exits.map((e) => e.code)).toEqual(Array(8).fill(0))
    expect(origin.bytesSent('/f')).toBeLessThanOrEqual(data.length * 1.2)
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
  })

  it('--no-wait while another process holds the file: exit 7 at once', async () => {
    const data = testBytes(8 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 4 * MiB })
    const holder = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    await holder.waitForEvent('start', { timeoutMs: 30_000 })
    const second = haul(['get', origin.url('/f'), '-o', 'f', '--no-wait'], dir)
    expect(await second.waitForExit()).toMatchObject({ code: 7 })
    expect(second.stderr).toMatch(/another haul process/i)
  })

  it('haul status shows a partial download and that it can be resumed', async () => {
    const data = testBytes(16 * MiB)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 16 * MiB })
    const first = haul(['get', origin.url('/f'), '-o', 'f', '--json'], dir)
    await first.waitForEvent(progressAtLeast(6 * MiB), { timeoutMs: 30_000 })
    first.signal('SIGKILL')
    await first.waitForExit()
    const status = haul(['status', 'f', '--json'], dir)
    expect(await status.waitForExit()).toMatchObject({ code: 0 })
    const report = JSON.parse(status.stdout) as { exists: boolean; staged: Array<{ source: string; bytes: number; total: number; resumable: boolean }> }
    expect(report.exists).toBe(false)
    expect(report.staged).toHaveLength(1)
    expect(report.staged[0]).toMatchObject({ source: origin.url('/f'), total: data.length, resumable: true })
    expect(report.staged[0]!.bytes).toBeGreaterThan(2 * MiB)
    const human = haul(['status', 'f'], dir)
    await human.waitForExit()
    expect(human.stdout).toMatch(/resumable/)

    // The same partial as if another host sharing the folder had staged it: never resumable from
    // here; abandoned once nothing in it changed for 15 minutes.
    const root = join(dir, '.f.haul')
    const [writer] = (await readdir(root)).filter((n) => n.startsWith('w.'))
    const foreign = join(root, writer!.replace(/^w\.[^.]+\./, 'w.other-host-7.'))
    await rename(join(root, writer!), foreign)
    const asForeign = async (): Promise<{ json: Record<string, unknown>; text: string }> => {
      const j = haul(['status', 'f', '--json'], dir)
      const t = haul(['status', 'f'], dir)
      await Promise.all([j.waitForExit(), t.waitForExit()])
      return { json: (JSON.parse(j.stdout) as { staged: Array<Record<string, unknown>> }).staged[0]!, text: t.stdout }
    }
    const fresh = await asForeign()
    expect(fresh.json).toMatchObject({ host: 'other-host-7', foreign: true, abandoned: false, inProgress: true, resumable: false })
    expect(fresh.text).toMatch(/another host, other-host-7, which may still be downloading it/)
    const old = new Date(Date.now() - 20 * 60_000)
    for (const p of [join(foreign, 'data'), join(foreign, 'journal'), foreign]) await utimes(p, old, old)
    const stale = await asForeign()
    expect(stale.json).toMatchObject({ foreign: true, abandoned: true, inProgress: false, resumable: false })
    expect(stale.text).toMatch(/counts as abandoned; not resumed from here/)
  })

  it('--help shows examples and --version the version; usage errors exit 2 before any request', async () => {
    origin = await startOrigin({ files: { '/f': 'x' } })
    const help = haul(['--help'], dir)
    expect(await help.waitForExit()).toMatchObject({ code: 0 })
    expect(help.stdout).toMatch(/Examples:/)
    const version = haul(['--version'], dir)
    await version.waitForExit()
    expect(version.stdout).toMatch(/^haul \d+\.\d+\.\d+/)
    for (const args of [
      ['get', 'http://[bad', '-o', 'f'],
      ['get', origin.url('/f'), '--sha256', 'nothex'],
      ['get', origin.url('/f'), '--integrity', 'sha256-short'],
      ['get', origin.url('/f'), '-x', '0'],
      ['get', 'ipfs://not-a-cid'],
    ]) {
      const child = haul(args, dir)
      expect(await child.waitForExit(), args.join(' ')).toMatchObject({ code: 2 })
    }
    expect(origin.requests).toBe(0)
  })
})
