import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killChildren, startGateway, trackGateways, UnixfsStore, type TestGateway } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
const gateways = trackGateways({ lifetimeMs: 60_000 })
const gateway = (store: UnixfsStore, options: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> => gateways.start({ store, ...options })
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-cli-ipfs-'))
})
afterEach(async () => {
  await killChildren()
  await gateways.closeAll()
  await rm(dir, { recursive: true, force: true })
})

/** base32 (RFC 4648, lowercase, no padding), as multibase 'b' uses. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

const progressAtLeast = (bytes: number) => (e: Record<string, unknown>) => e.event === 'progress' && (e.bytes as number) >= bytes

describe('haul get ipfs://CID', () => {
  it('gives the same --json events as HTTP, for CIDv0 (dag-pb leaves) and CIDv1 (raw leaves)', async () => {
    const store = new UnixfsStore()
    const data = testBytes(3 * MiB)
    const v0 = await store.addFile(data, { profile: 'kubo' })
    const v1 = await store.addFile(data, { profile: 'raw-leaves' })
    const g = await gateway(store)
    for (const [cid, out] of [[v0.toString(), 'v0.bin'], [v1.toString(), 'v1.bin']] as const) {
      const child = haul(['get', `ipfs://${cid}`, '-o', out, '--gateway', g.url, '--json'], dir)
      expect(await child.waitForExit()).toMatchObject({ code: 0 })
      const kinds = new Set(child.events.map((e) => e.event))
      expect([...kinds].every((k) => ['start', 'progress', 'retry', 'source', 'done'].includes(k as string))).toBe(true)
      expect(child.events[0]).toMatchObject({ event: 'start', source: `ipfs://${cid}`, output: join(dir, out), resumedFrom: 0 })
      expect(child.events.at(-1)).toEqual({ event: 'done', path: join(dir, out), bytes: data.length, sha256: sha256(data) })
    }
    expect(v0.toString().startsWith('Qm')).toBe(true)
  })

  it('passes over gateways that answer 429, HTML with 200, or corrupt blocks; the good bytes land', async () => {
    const store = new UnixfsStore()
    const data = testBytes(2 * MiB)
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const busy = await gateway(store, { fault: { status: 429, retryAfter: '60' } })
    const html = await gateway(store, { fault: { html200: true } })
    const corrupt = await gateway(store, { fault: { corruptBlocks: 'all' } })
    const good = await gateway(store)
    const args = ['get', `/ipfs/${cid}`, '-o', 'f', '--json', ...[busy, html, corrupt, good].flatMap((g) => ['--gateway', g.url])]
    const child = haul(args, dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(child.events.filter((e) => e.event === 'source').map((e) => e.source)).toContain(good.url)
  })

  it('every gateway lying: nothing lands, exit 4, the message says the content did not match the CID', async () => {
    const store = new UnixfsStore()
    const cid = await store.addFile(testBytes(MiB), { profile: 'raw-leaves' })
    const a = await gateway(store, { fault: { corruptBlocks: 'all' } })
    const b = await gateway(store, { fault: { corruptBlocks: 'all' } })
    const child = haul(['get', cid.toString(), '-o', 'f', '--gateway', a.url, '--gateway', b.url], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 4 })
    expect(child.stderr).toMatch(/did not match/)
    expect(await readdir(dir)).toEqual([])
  })

  it('SIGKILL mid-download, rerun against another gateway: resumes, at most 1.3x fetched in total', async () => {
    const store = new UnixfsStore()
    const data = testBytes(16 * MiB)
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const first = await gateway(store, { fault: { rateBytesPerSecond: 8 * MiB } })
    const second = await gateway(store)
    const run1 = haul(['get', `ipfs://${cid}`, '-o', 'f', '--gateway', first.url, '--json'], dir)
    await run1.waitForEvent(progressAtLeast(7 * MiB), { timeoutMs: 30_000 })
    run1.signal('SIGKILL')
    await run1.waitForExit()
    const run2 = haul(['get', `ipfs://${cid}`, '-o', 'f', '--gateway', second.url, '--json'], dir)
    expect(await run2.waitForExit()).toMatchObject({ code: 0 })
    expect((run2.events[0] as { resumedFrom: number }).resumedFrom).toBeGreaterThan(3 * MiB)
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(first.bytesSent() + second.bytesSent()).toBeLessThanOrEqual(data.length * 1.3)
  })

  it('fetches segments from several gateways at once with -x: both serve, and it beats one connection', async () => {
    const store = new UnixfsStore()
    const data = testBytes(16 * MiB)
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const capped = { fault: { rateBytesPerSecond: 8 * MiB } }
    const timed = async (x: string, a: TestGateway, b: TestGateway): Promise<number> => {
      const started = Date.now()
      const child = haul(['get', `ipfs://${cid}`, '-o', `f${x}`, '-q', '-x', x, '--gateway', a.url, '--gateway', b.url], dir)
      expect(await child.waitForExit()).toMatchObject({ code: 0 })
      return Date.now() - started
    }
    const one = await timed('1', await gateway(store, capped), await gateway(store, capped))
    const a = await gateway(store, capped)
    const b = await gateway(store, capped)
    const four = await timed('4', a, b)
    console.log(`16 MiB over two gateways capped at 8 MiB/s per connection: -x 1 ${one} ms, -x 4 ${four} ms`)
    expect(sha256(await readFile(join(dir, 'f4')))).toBe(sha256(data))
    expect(Math.min(a.bytesSent(), b.bytesSent())).toBeGreaterThan(data.length * 0.2)
    expect(one / four).toBeGreaterThan(1.3) // ~2.7x on an idle machine; the structural check above is the real one
  })

  it('answers an identity CID inline with no request', async () => {
    const store = new UnixfsStore()
    const g = await gateway(store)
    const content = Buffer.from('hello from inside the CID')
    const cid = `b${base32(Buffer.concat([Buffer.from([0x01, 0x55, 0x00, content.length]), content]))}`
    const child = haul(['get', `ipfs://${cid}`, '-o', 'hello.txt', '--gateway', g.url], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe(content.toString())
    expect(g.requests).toHaveLength(0)
  })

  it('a path inside a directory CID, and a directory CID to a folder', async () => {
    const store = new UnixfsStore()
    const files = [
      { path: 'docs/readme.txt', content: Buffer.from('read me') },
      { path: 'data/blob.bin', content: testBytes(600 * 1024) },
    ]
    const tree = await store.addDirectory(files, { profile: 'raw-leaves' })
    const g = await gateway(store)
    const one = haul(['get', `ipfs://${tree.cid}/docs/readme.txt`, '--gateway', g.url, '-q'], dir)
    expect(await one.waitForExit()).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'readme.txt'), 'utf8')).toBe('read me')
    const all = haul(['get', `ipfs://${tree.cid}`, '-o', 'tree', '--gateway', g.url, '-q'], dir)
    expect(await all.waitForExit()).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'tree', 'data', 'blob.bin'))).toEqual(files[1]!.content)
    expect((await readdir(dir)).sort()).toEqual(['readme.txt', 'tree'])
  })
})
