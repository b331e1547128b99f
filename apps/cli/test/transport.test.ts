// The CLI over the shared HTTP transport: `haul get ipfs://…` through a real forward proxy
// (Debian's tinyproxy, started here) from HTTP_PROXY, NO_PROXY honoured; and a URL that names a
// folder is refused without -o instead of saving an HTML listing as a file.
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killChildren, startOrigin, startTinyproxy, TINYPROXY, trackGateways, UnixfsStore, type Origin, type TestProxy } from '@haul/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
/** Every proxy variable unset, so the machine's own settings can't steer the child. */
const NO_PROXY_ENV = { HTTP_PROXY: undefined, http_proxy: undefined, HTTPS_PROXY: undefined, https_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined }

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-cli-transport-'))
})
afterEach(async () => {
  await killChildren()
  await rm(dir, { recursive: true, force: true })
})

if (TINYPROXY === undefined) console.warn('cli transport.test: skipping the proxy tests: tinyproxy is not installed (apt-get install tinyproxy)')

describe.skipIf(TINYPROXY === undefined)('haul get ipfs://CID through tinyproxy', () => {
  const gateways = trackGateways({ lifetimeMs: 60_000 })
  let proxy: TestProxy
  beforeAll(async () => {
    proxy = await startTinyproxy()
  })
  afterAll(async () => {
    await gateways.closeAll()
    await proxy?.close()
  })

  it('fetches every block through HTTP_PROXY: the proxy logs each gateway request', async () => {
    const store = new UnixfsStore()
    const data = testBytes(3 * MiB)
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const g = await gateways.start({ store })
    const before = proxy.requests.length
    const child = haul(['get', `ipfs://${cid}`, '-o', 'f.bin', '--gateway', g.url, '--json'], dir, { env: { ...NO_PROXY_ENV, HTTP_PROXY: proxy.url } })
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(data))
    const carried = proxy.requests.slice(before)
    expect(g.requests.length).toBeGreaterThan(0)
    expect(carried).toEqual(g.requests.map((r) => ({ method: 'GET', target: `${g.url}${r.url}` })))
  })

  it('goes straight to a gateway listed in NO_PROXY', async () => {
    const store = new UnixfsStore()
    const data = testBytes(MiB)
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const g = await gateways.start({ store })
    const before = proxy.requests.length
    const child = haul(['get', `ipfs://${cid}`, '-o', 'f.bin', '--gateway', g.url, '--json'], dir, { env: { ...NO_PROXY_ENV, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } })
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(data))
    expect(g.requests.length).toBeGreaterThan(0)
    expect(proxy.requests.length).toBe(before)
  })
})

describe('haul get URL that names a folder', () => {
  let origin: Origin
  const listing = '<!doctype html><html><body><a href="f.bin">f.bin</a></body></html>\n'
  beforeAll(async () => {
    origin = await startOrigin({ files: { '/pub/': { body: listing, contentType: 'text/html' }, '/pub': { body: listing, contentType: 'text/html' } } })
  })
  afterAll(async () => {
    await origin?.close()
  })

  it.each(['/pub/', '/pub'])('refuses %s without -o: exit 2, a hint at -o NAME, nothing saved', async (path) => {
    const child = haul(['get', origin.url(path)], dir, { env: NO_PROXY_ENV })
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    expect(child.stderr).toContain('-o NAME')
    expect(await readdir(dir)).toEqual([])
  })

  it('saves the page with -o NAME', async () => {
    const child = haul(['get', origin.url('/pub/'), '-o', 'listing.html', '-q'], dir, { env: NO_PROXY_ENV })
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'listing.html'), 'utf8')).toBe(listing)
  })
})
