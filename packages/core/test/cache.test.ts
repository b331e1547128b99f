import { createHash } from 'node:crypto'
import { watch } from 'node:fs'
import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killChildren, spawnNode, startOrigin, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Cache, defaultCacheDir, runDownload, type DownloadOptions, type HaulEvent } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const FETCH_CHILD = fileURLToPath(new URL('./fixtures/fetch-child.mjs', import.meta.url))
const LOCK_CHILD = fileURLToPath(new URL('./fixtures/lock-child.mjs', import.meta.url))
const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-cache-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

/** A download through `cache` from a fresh MemorySource over `data`; counts the runs. */
function getter(cache: Cache, data: Buffer, id = 'mem://file') {
  const sources: MemorySource[] = []
  const get = async (output: string, options: Partial<DownloadOptions> = {}) => {
    const events: HaulEvent[] = []
    const result = await cache.download({ output, onEvent: (e) => events.push(e), ...options }, (o) => {
      const source = new MemorySource(data, { id })
      sources.push(source)
      return runDownload([source], o)
    }, { id })
    return { result, events }
  }
  return { get, sources }
}

describe('Cache', () => {
  it('a digest already in the cache is linked to the output with no read; the output is the blob (hard link)', async () => {
    const data = testBytes(3 * MiB)
    const cache = new Cache(join(dir, 'cache'))
    const { get, sources } = getter(cache, data)
    const first = await get(join(dir, 'a.bin'), { sha256: sha256(data) })
    expect(first.result).toMatchObject({ path: join(dir, 'a.bin'), bytes: data.length, sha256: sha256(data), cached: false })
    expect(first.events[0]).toMatchObject({ event: 'start', output: join(dir, 'a.bin') })
    expect(first.events.at(-1)).toEqual({ event: 'done', path: join(dir, 'a.bin'), bytes: data.length, sha256: sha256(data) })
    const second = await get(join(dir, 'out', 'b.bin'), { sha256: sha256(data) })
    expect(sources).toHaveLength(1)
    expect(second.events).toEqual([{ event: 'done', path: join(dir, 'out', 'b.bin'), bytes: data.length, sha256: sha256(data), cached: true }])
    const [blob, b] = await Promise.all([stat(cache.blobPath(sha256(data))), stat(join(dir, 'out', 'b.bin'))])
    expect(b.ino).toBe(blob.ino)
    expect(await readFile(join(dir, 'out', 'b.bin'))).toEqual(data)
    // Nothing but the blobs in the cache, nothing but the outputs beside them.
    expect(await readdir(join(dir, 'cache', 'blobs', 'sha256'))).toEqual([sha256(data)])
    expect((await readdir(dir)).sort()).toEqual(['a.bin', 'cache', 'out'])
    expect(await readdir(join(dir, 'out'))).toEqual(['b.bin'])
  })

  it('an SRI sha256 finds the same blob as a hex sha256', async () => {
    const data = testBytes(100_000)
    const cache = new Cache(join(dir, 'cache'))
    const { get, sources } = getter(cache, data)
    await get(join(dir, 'a'), { sha256: sha256(data) })
    const { result } = await get(join(dir, 'b'), { integrity: `sha256-${createHash('sha256').update(data).digest('base64')}` })
    expect(result.cached).toBe(true)
    expect(sources).toHaveLength(1)
  })

  it('without a digest: always downloads, then files the blob under its sha256 so that a get by digest is a hit', async () => {
    const data = testBytes(MiB, 3)
    const cache = new Cache(join(dir, 'cache'))
    const { get, sources } = getter(cache, data)
    const first = await get(join(dir, 'a'))
    expect(first.result).toMatchObject({ sha256: sha256(data), cached: false })
    await get(join(dir, 'b'))
    expect(sources).toHaveLength(2)
    expect(await readdir(join(dir, 'cache', 'incoming'))).toEqual([])
    const third = await get(join(dir, 'c'), { sha256: sha256(data) })
    expect(third.result.cached).toBe(true)
    expect(sources).toHaveLength(2)
    expect(await readFile(join(dir, 'c'))).toEqual(data)
  })

  it('a digest mismatch commits no blob and no output', async () => {
    const data = testBytes(MiB, 5)
    const cache = new Cache(join(dir, 'cache'))
    const { get } = getter(cache, data)
    const events: HaulEvent[] = []
    await expect(get(join(dir, 'a'), { sha256: 'a'.repeat(64), onEvent: (e) => events.push(e) })).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
    expect(events.filter((e) => e.event === 'error')).toHaveLength(1)
    expect(await readdir(dir)).toEqual(['cache'])
    expect(await readdir(join(dir, 'cache', 'blobs', 'sha256')).catch(() => [])).toEqual([])
  })

  it('a CID key files a symlink to the sha256 blob, and a second get by that CID is a hit', async () => {
    const data = testBytes(200_000, 9)
    const cache = new Cache(join(dir, 'cache'))
    let runs = 0
    const get = (output: string) =>
      cache.download({ output }, (o) => {
        runs++
        return runDownload([new MemorySource(data, { id: 'ipfs://bafyexample' })], o)
      }, { id: 'ipfs://bafyexample', cid: 'bafyexample' })
    await get(join(dir, 'a'))
    expect((await lstat(cache.cidPath('bafyexample'))).isSymbolicLink()).toBe(true)
    expect(await readlink(cache.cidPath('bafyexample'))).toBe(join('..', 'sha256', sha256(data)))
    const second = await get(join(dir, 'b'))
    expect(second).toMatchObject({ cached: true, sha256: sha256(data) })
    expect(runs).toBe(1)
    expect((await cache.list()).map((e) => e.cids)).toEqual([['bafyexample']])
  })

  it('verify re-hashes every blob and removes the one corrupted by hand (and its CID alias)', async () => {
    const cache = new Cache(join(dir, 'cache'))
    const good = testBytes(MiB, 11)
    const bad = testBytes(MiB, 12)
    await getter(cache, good).get(join(dir, 'good'), { sha256: sha256(good) })
    await cache.download({ output: join(dir, 'bad') }, (o) => runDownload([new MemorySource(bad, { id: 'ipfs://bad' })], o), { id: 'ipfs://bad', cid: 'bad' })
    await writeFile(cache.blobPath(sha256(bad)), Buffer.from('bit rot'), { flag: 'r+' })
    const report = await cache.verify()
    expect(report.checked).toBe(2)
    expect(report.corrupt).toHaveLength(1)
    expect(report.corrupt[0]).toMatchObject({ sha256: sha256(bad), removed: true })
    expect(await readdir(join(dir, 'cache', 'blobs', 'sha256'))).toEqual([sha256(good)])
    expect(await readdir(join(dir, 'cache', 'blobs', 'cid'))).toEqual([])
    expect((await cache.verify()).corrupt).toEqual([])
  })

  it('gc removes the least recently used blobs first and skips one whose lock another process holds', async () => {
    const cache = new Cache(join(dir, 'cache'))
    const blobs = [1, 2, 3, 4].map((seed) => testBytes(MiB, seed + 20))
    for (const [i, data] of blobs.entries()) await getter(cache, data).get(join(dir, `f${i}`), { sha256: sha256(data) })
    // Last use: f2 oldest, then f0 (held by another process), then f1, then f3.
    const order = [2, 0, 1, 3]
    for (const [rank, i] of order.entries()) {
      await utimes(cache.blobPath(sha256(blobs[i]!)), new Date(Date.UTC(2020, 0, 1 + rank)), new Date(Date.UTC(2020, 0, 1)))
    }
    const holder = spawnNode(LOCK_CHILD, [cache.blobPath(sha256(blobs[0]!)), '--destination', '--hold'], { timeoutMs: 30_000 })
    await holder.waitForEvent('acquired')
    const report = await cache.gc({ maxBytes: 2 * MiB })
    expect(report.removed.map((e) => e.sha256)).toEqual([sha256(blobs[2]!), sha256(blobs[1]!)])
    expect(report.busy.map((e) => e.sha256)).toEqual([sha256(blobs[0]!)])
    expect(report).toMatchObject({ bytesBefore: 4 * MiB, bytesAfter: 2 * MiB })
    expect((await readdir(join(dir, 'cache', 'blobs', 'sha256'))).filter((n) => !n.startsWith('.')).sort()).toEqual([sha256(blobs[0]!), sha256(blobs[3]!)].sort())
    holder.process.stdin?.write('release\n')
    await holder.waitForExit()
    // A use makes a blob the most recent: f0 is linked again, so f3 goes next.
    await getter(cache, blobs[0]!).get(join(dir, 'again'), { sha256: sha256(blobs[0]!) })
    const next = await cache.gc({ maxBytes: MiB })
    expect(next.removed.map((e) => e.sha256)).toEqual([sha256(blobs[3]!)])
    // Outputs linked to removed blobs stay whole.
    expect(await readFile(join(dir, 'f2'))).toEqual(blobs[2])
  })

  it('gc retires a blob for a grace period: a get that wants it meanwhile takes it back and links it, and gc reports it busy', async () => {
    const cache = new Cache(join(dir, 'cache'))
    const data = testBytes(MiB, 61)
    const { get, sources } = getter(cache, data)
    await get(join(dir, 'a'), { sha256: sha256(data) })
    const blobs = join(dir, 'cache', 'blobs', 'sha256')
    const tomb = `.${sha256(data)}.gc`
    const retired = new Promise<void>((resolve) => {
      const watcher = watch(blobs, (_, name) => {
        if (name !== tomb) return
        watcher.close()
        resolve()
      })
    })
    const endGrace = new AbortController()
    const gc = cache.gc({ maxBytes: 0, graceMs: 60_000, signal: endGrace.signal })
    await retired
    // Gone from its name, as for a get on another host that gc's lock can't stop…
    await expect(stat(cache.blobPath(sha256(data)))).rejects.toMatchObject({ code: 'ENOENT' })
    // …which takes it back from the tomb and links it: no download.
    const second = await get(join(dir, 'b'), { sha256: sha256(data) })
    expect(second.result.cached).toBe(true)
    expect(sources).toHaveLength(1)
    endGrace.abort()
    const report = await gc
    expect(report.removed).toEqual([])
    expect(report.busy.map((e) => e.sha256)).toEqual([sha256(data)])
    expect(report.bytesAfter).toBe(MiB)
    expect(await readdir(blobs)).toEqual([sha256(data)])
    expect(sha256(await readFile(join(dir, 'b')))).toBe(sha256(data))
  })

  it('gc removes a retired blob for good after its grace period, and the tombs a dead gc left behind', async () => {
    const cache = new Cache(join(dir, 'cache'))
    const data = testBytes(MiB, 62)
    await getter(cache, data).get(join(dir, 'a'), { sha256: sha256(data) })
    const blobs = join(dir, 'cache', 'blobs', 'sha256')
    const report = await cache.gc({ maxBytes: 0, graceMs: 20 })
    expect(report.removed.map((e) => e.sha256)).toEqual([sha256(data)])
    expect(report).toMatchObject({ bytesBefore: MiB, bytesAfter: 0, busy: [] })
    expect(await readdir(blobs)).toEqual([])
    const orphan = `.${'e'.repeat(64)}.gc`
    await writeFile(join(blobs, orphan), 'left by a gc that was killed during its grace period')
    expect(await cache.gc({ maxBytes: 0, graceMs: 20 })).toMatchObject({ removed: [], busy: [] })
    expect(await readdir(blobs)).toEqual([])
    expect(sha256(await readFile(join(dir, 'a')))).toBe(sha256(data))
  })

  it('8 processes, 8 outputs, one URL with a digest: one GET, every output whole', async () => {
    const data = testBytes(8 * MiB, 31)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 32 * MiB })
    const cacheDir = join(dir, 'cache')
    const children = Array.from({ length: 8 }, (_, i) => spawnNode(FETCH_CHILD, [origin!.url('/f'), join(dir, `out${i}`), '--sha256', sha256(data), '--cache', cacheDir], { timeoutMs: 60_000 }))
    const exits = await Promise.all(children.map((c) => c.waitForExit()))
    expect(exits.map((e) => e.code)).toEqual(Array(8).fill(0))
    expect(origin.log.filter((r) => r.method === 'GET')).toHaveLength(1)
    expect(origin.bytesSent('/f')).toBe(data.length)
    const blob = await stat(new Cache(cacheDir).blobPath(sha256(data)))
    for (let i = 0; i < 8; i++) {
      expect((await stat(join(dir, `out${i}`))).ino).toBe(blob.ino)
      expect(children[i]!.events.at(-1)).toMatchObject({ event: 'done', path: join(dir, `out${i}`), sha256: sha256(data) })
    }
    expect(sha256(await readFile(join(dir, 'out7')))).toBe(sha256(data))
  })

  it('where locks silently do nothing (half the processes use the other lock kind): maybe duplicates, but every output and the blob are whole', async () => {
    const data = testBytes(8 * MiB, 32)
    origin = await startOrigin({ files: { '/f': data }, rateBytesPerSecond: 32 * MiB })
    const cacheDir = join(dir, 'cache')
    const children = Array.from({ length: 8 }, (_, i) =>
      spawnNode(FETCH_CHILD, [origin!.url('/f'), join(dir, `out${i}`), '--sha256', sha256(data), '--cache', cacheDir], { timeoutMs: 60_000, env: { HAUL_LOCK: i % 2 === 0 ? 'ofd' : 'socket' } }),
    )
    const exits = await Promise.all(children.map((c) => c.waitForExit()))
    expect(exits.map((e) => e.code)).toEqual(Array(8).fill(0))
    for (let i = 0; i < 8; i++) expect(sha256(await readFile(join(dir, `out${i}`)))).toBe(sha256(data))
    expect(sha256(await readFile(new Cache(cacheDir).blobPath(sha256(data))))).toBe(sha256(data))
    // The kinds don't see each other's locks (and one removes the other's lock files), so several
    // may download: duplicates are what degrades, never the bytes.
    expect(origin.log.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(1)
    for (const [i, c] of children.entries()) expect(c.events.at(-1)).toMatchObject({ event: 'done', path: join(dir, `out${i}`), sha256: sha256(data) })
    expect((await readdir(join(cacheDir, 'blobs', 'sha256'))).filter((n) => !n.startsWith('.'))).toEqual([sha256(data)])
  })

  it('defaultCacheDir: HAUL_CACHE, else XDG_CACHE_HOME/haul, else ~/.cache/haul', () => {
    expect(defaultCacheDir({ HAUL_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c')
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/haul')
    expect(defaultCacheDir({})).toMatch(/\.cache\/haul$/)
  })
})
