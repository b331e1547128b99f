import { createHash } from 'node:crypto'
import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killChildren, spawnNode, startGateway, startOrigin, UnixfsStore, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haul, testBytes } from './helpers.js'

const HOLD_LOCK = fileURLToPath(new URL('./fixtures/hold-lock.mjs', import.meta.url))
const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let cache: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-cli-cache-'))
  cache = join(dir, 'cache')
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

const blob = (data: Uint8Array): string => join(cache, 'blobs', 'sha256', sha256(data))
const gets = (o: Origin, path: string): number => o.log.filter((r) => r.method === 'GET' && r.path === path).length

describe('haul get --cache', () => {
  it('8 processes, 8 outputs, one URL with a digest: the server sends the file once', async () => {
    const data = testBytes(16 * MiB, 41)
    origin = await startOrigin({ files: { '/m.bin': data }, rateBytesPerSecond: 32 * MiB })
    const children = Array.from({ length: 8 }, (_, i) => haul(['get', origin!.url('/m.bin'), '-o', `out${i}.bin`, '--sha256', sha256(data), `--cache=${cache}`, '--json'], dir))
    const exits = await Promise.all(children.map((c) => c.waitForExit()))
    expect(exits.map((e) => e.code)).toEqual(Array(8).fill(0))
    expect(gets(origin, '/m.bin')).toBe(1)
    expect(origin.bytesSent('/m.bin')).toBe(data.length)
    const { ino } = await stat(blob(data))
    for (let i = 0; i < 8; i++) {
      expect((await stat(join(dir, `out${i}.bin`))).ino).toBe(ino)
      expect(children[i]!.events.at(-1)).toEqual({ event: 'done', path: join(dir, `out${i}.bin`), bytes: data.length, sha256: sha256(data), ...(children[i]!.events.some((e) => e.event === 'start') ? {} : { cached: true }) })
    }
    expect(sha256(await readFile(join(dir, 'out3.bin')))).toBe(sha256(data))
    expect((await readdir(dir)).sort()).toEqual(['cache', ...Array.from({ length: 8 }, (_, i) => `out${i}.bin`)].sort())
  })

  it('a SIGKILLed cached download resumes from the cache staging for another output; no partial blob is ever visible', async () => {
    const data = testBytes(24 * MiB, 46)
    origin = await startOrigin({ files: { '/m.bin': data }, rateBytesPerSecond: 16 * MiB })
    const first = haul(['get', origin.url('/m.bin'), '-o', 'a.bin', '--sha256', sha256(data), `--cache=${cache}`, '--json'], dir)
    await first.waitForEvent((e) => e.event === 'progress' && (e.bytes as number) >= 10 * MiB, { timeoutMs: 30_000 })
    first.signal('SIGKILL')
    await first.waitForExit()
    await expect(stat(blob(data))).rejects.toThrow()
    await expect(stat(join(dir, 'a.bin'))).rejects.toThrow()
    const second = haul(['get', origin.url('/m.bin'), '-o', 'b.bin', '--sha256', sha256(data), `--cache=${cache}`, '--json'], dir)
    expect(await second.waitForExit()).toMatchObject({ code: 0 })
    expect(second.events[0]).toMatchObject({ event: 'start', output: join(dir, 'b.bin') })
    expect((second.events[0] as { resumedFrom: number }).resumedFrom).toBeGreaterThan(4 * MiB)
    expect(origin.bytesSent('/m.bin')).toBeLessThanOrEqual(data.length * 1.25)
    expect(sha256(await readFile(join(dir, 'b.bin')))).toBe(sha256(data))
    expect(await readdir(join(cache, 'blobs', 'sha256'))).toEqual([sha256(data)])
  })

  it('a cache hit makes no request at all (HAUL_CACHE turns the cache on); a URL without a digest is always fetched', async () => {
    const data = testBytes(2 * MiB, 42)
    origin = await startOrigin({ files: { '/m.bin': data } })
    const env = { HAUL_CACHE: cache }
    expect(await haul(['get', origin.url('/m.bin'), '-o', 'first.bin', '-q'], dir, { env }).waitForExit()).toMatchObject({ code: 0 })
    expect(origin.requests).toBeGreaterThan(0)
    // URL only: not a hit (the cache can't know the bytes), but it filed the blob under its sha256.
    const before = origin.requests
    expect(await haul(['get', origin.url('/m.bin'), '-o', 'second.bin', '-q'], dir, { env }).waitForExit()).toMatchObject({ code: 0 })
    expect(origin.requests).toBeGreaterThan(before)
    const requests = origin.requests
    const hit = haul(['get', origin.url('/m.bin'), '-o', 'sub/third.bin', '--sha256', sha256(data), '--json'], dir, { env })
    expect(await hit.waitForExit()).toMatchObject({ code: 0 })
    expect(origin.requests).toBe(requests)
    expect(hit.events).toEqual([{ event: 'done', path: join(dir, 'sub', 'third.bin'), bytes: data.length, sha256: sha256(data), cached: true }])
    expect(sha256(await readFile(join(dir, 'sub', 'third.bin')))).toBe(sha256(data))
    // --no-cache: straight to the origin again.
    expect(await haul(['get', origin.url('/m.bin'), '-o', 'fourth.bin', '--sha256', sha256(data), '--no-cache', '-q'], dir, { env }).waitForExit()).toMatchObject({ code: 0 })
    expect(origin.requests).toBeGreaterThan(requests)
    expect((await stat(join(dir, 'fourth.bin'))).ino).not.toBe((await stat(blob(data))).ino)
  })

  it('a batch with the cache: two lines with the same digest cost one download', async () => {
    const data = testBytes(MiB, 43)
    origin = await startOrigin({ files: { '/a': data, '/a-copy': data } })
    await writeFile(join(dir, 'l'), `${origin.url('/a')}\n out=x\n sha256=${sha256(data)}\n${origin.url('/a-copy')}\n out=y\n sha256=${sha256(data)}\n`)
    expect(await haul(['get', '-i', 'l', '--cache', cache, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
    expect(origin.bytesSent()).toBe(data.length)
    expect((await stat(join(dir, 'x'))).ino).toBe((await stat(join(dir, 'y'))).ino)
  })

  it('cache verify finds and removes a blob corrupted by hand, exit 4; then exit 0', async () => {
    const good = testBytes(MiB, 44)
    const bad = testBytes(MiB, 45)
    origin = await startOrigin({ files: { '/good': good, '/bad': bad } })
    for (const [path, data] of [['/good', good], ['/bad', bad]] as const) {
      expect(await haul(['get', origin.url(path), '-o', path.slice(1), '--sha256', sha256(data), `--cache=${cache}`, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
    }
    await writeFile(blob(bad), 'not the bytes it was', { flag: 'r+' })
    const verify = haul(['cache', 'verify', '--cache', cache], dir)
    expect(await verify.waitForExit()).toMatchObject({ code: 4 })
    expect(verify.stdout).toContain(`corrupt: ${sha256(bad)}`)
    expect(verify.stdout).toMatch(/removed/)
    expect(await readdir(join(cache, 'blobs', 'sha256'))).toEqual([sha256(good)])
    const again = haul(['cache', 'verify', '--cache', cache, '--json'], dir)
    expect(await again.waitForExit()).toMatchObject({ code: 0 })
    expect(JSON.parse(again.stdout)).toMatchObject({ checked: 1, corrupt: [] })
    // The next get of the removed blob downloads it again.
    const requests = origin.requests
    expect(await haul(['get', origin.url('/bad'), '-o', 'bad2', '--sha256', sha256(bad), `--cache=${cache}`, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
    expect(origin.requests).toBeGreaterThan(requests)
  })

  it('cache gc --max-size removes least recently used first and skips a blob whose lock is held; cache ls lists what is left', async () => {
    const blobs = [0, 1, 2, 3].map((i) => testBytes(MiB, 50 + i))
    origin = await startOrigin({ files: Object.fromEntries(blobs.map((b, i) => [`/b${i}`, b])) })
    for (const [i, data] of blobs.entries()) {
      expect(await haul(['get', origin.url(`/b${i}`), '-o', `b${i}`, '--sha256', sha256(data), `--cache=${cache}`, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
    }
    // Last use: b1 oldest, then b0 (its lock held below), then b3, then b2.
    for (const [rank, i] of [1, 0, 3, 2].entries()) await utimes(blob(blobs[i]!), new Date(Date.UTC(2024, 0, 1 + rank)), new Date(Date.UTC(2024, 0, 1)))
    const holder = spawnNode(HOLD_LOCK, [join(cache, 'blobs', 'sha256', sha256(blobs[0]!))], { cwd: dir, timeoutMs: 30_000 })
    await holder.waitForEvent('acquired')
    const gc = haul(['cache', 'gc', '--max-size', '2M', '--cache', cache, '--json'], dir)
    expect(await gc.waitForExit()).toMatchObject({ code: 0 })
    const report = JSON.parse(gc.stdout) as { removed: Array<{ sha256: string }>; busy: Array<{ sha256: string }>; bytesAfter: number }
    expect(report.removed.map((e) => e.sha256)).toEqual([sha256(blobs[1]!), sha256(blobs[3]!)])
    expect(report.busy.map((e) => e.sha256)).toEqual([sha256(blobs[0]!)])
    expect(report.bytesAfter).toBe(2 * MiB)
    holder.send('release')
    await holder.waitForEvent('released')
    const ls = haul(['cache', 'ls', '--cache', cache, '--json'], dir)
    expect(await ls.waitForExit()).toMatchObject({ code: 0 })
    const listing = JSON.parse(ls.stdout) as { bytes: number; blobs: Array<{ sha256: string; size: number }> }
    expect(listing.blobs.map((b) => b.sha256)).toEqual([sha256(blobs[0]!), sha256(blobs[2]!)])
    expect(listing.bytes).toBe(2 * MiB)
    // The outputs of removed blobs are still whole files.
    expect(sha256(await readFile(join(dir, 'b1')))).toBe(sha256(blobs[1]!))
    const human = haul(['cache', 'ls', '--cache', cache], dir)
    await human.waitForExit()
    expect(human.stdout).toMatch(/2 blobs, 2(\.0)? MiB/)
    expect(await haul(['cache', 'gc', '--cache', cache], dir).waitForExit()).toMatchObject({ code: 2 })
  })

  it('ipfs://CID: the second get is linked from blobs/cid with no gateway request; a directory CID bypasses the cache', async () => {
    const store = new UnixfsStore()
    const data = testBytes(2 * MiB, 60)
    const cid = await store.addFile(data, { profile: 'kubo' })
    const tree = await store.addDirectory([{ path: 'a.txt', content: Buffer.from('a') }, { path: 'sub/b.txt', content: Buffer.from('b') }])
    const g = await startGateway({ store })
    try {
      expect(await haul(['get', `ipfs://${cid}`, '-o', 'one.bin', '--gateway', g.url, `--cache=${cache}`, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
      const alias = join(cache, 'blobs', 'cid', cid.toV1().toString())
      expect((await lstat(alias)).isSymbolicLink()).toBe(true)
      expect(await readlink(alias)).toBe(join('..', 'sha256', sha256(data)))
      const requests = g.requests.length
      const second = haul(['get', `ipfs://${cid}`, '-o', 'two.bin', '--gateway', g.url, `--cache=${cache}`, '--json'], dir)
      expect(await second.waitForExit()).toMatchObject({ code: 0 })
      expect(g.requests.length).toBe(requests)
      expect(second.events).toEqual([{ event: 'done', path: join(dir, 'two.bin'), bytes: data.length, sha256: sha256(data), cached: true }])
      expect((await stat(join(dir, 'two.bin'))).ino).toBe((await stat(blob(data))).ino)
      // A directory can't be one blob: it lands as a folder, the cache untouched.
      expect(await haul(['get', `ipfs://${tree.cid}`, '-o', 'tree', '--gateway', g.url, `--cache=${cache}`, '-q'], dir).waitForExit()).toMatchObject({ code: 0 })
      expect(await readFile(join(dir, 'tree', 'sub', 'b.txt'), 'utf8')).toBe('b')
      expect(await readdir(join(cache, 'blobs', 'cid'))).toEqual([cid.toV1().toString()])
    } finally {
      await g.close()
    }
  })
})
