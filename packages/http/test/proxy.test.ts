// Through a real forward proxy (Debian's tinyproxy, started here on 127.0.0.1): the `proxy` option,
// the HTTP(S)_PROXY / NO_PROXY variables, and `proxy: false`. The origin sees tinyproxy's Via
// header on what the proxy carried; the proxy's own log shows every request and tunnel.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestPki, OPENSSL, startOrigin, startTinyproxy, TINYPROXY, type Origin, type TestPki, type TestProxy } from '@haul/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import { bytes } from './helpers.js'

const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'] as const
const data = bytes(256 * 1024)
const sha256 = createHash('sha256').update(data).digest('hex')

if (TINYPROXY === undefined) console.warn('proxy.test: skipping the proxy tests: tinyproxy is not installed (apt-get install tinyproxy)')
if (OPENSSL === undefined) console.warn('proxy.test: skipping https through the proxy: openssl is not installed')

describe.skipIf(TINYPROXY === undefined)('through tinyproxy', () => {
  let proxy: TestProxy
  let origin: Origin
  let dir: string
  let saved: Partial<Record<(typeof PROXY_VARIABLES)[number], string>>

  beforeAll(async () => {
    proxy = await startTinyproxy()
    origin = await startOrigin({ files: { '/f.bin': data } })
  })
  afterAll(async () => {
    await Promise.all([proxy?.close(), origin?.close()])
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haul-proxy-test-'))
    // The test owns the proxy variables: whatever the machine sets must not steer these requests.
    saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]))
    for (const name of PROXY_VARIABLES) delete process.env[name]
  })
  afterEach(async () => {
    for (const name of PROXY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
    await rm(dir, { recursive: true, force: true })
  })

  /** Requests the origin received since `from`, and whether tinyproxy's Via header was on each. */
  const viaProxy = (from: number): boolean[] => origin.log.slice(from).map((r) => /tinyproxy/.test(String(r.headers.via ?? '')))

  it('sends every request of download() through the `proxy` option, whatever the environment says', async () => {
    process.env.NO_PROXY = '127.0.0.1' // an explicit proxy overrides NO_PROXY too
    const before = { origin: origin.log.length, proxy: proxy.requests.length }
    const result = await download(origin.url('/f.bin'), { output: join(dir, 'f.bin'), proxy: proxy.url, sha256 })
    expect(result.bytes).toBe(data.length)
    expect(viaProxy(before.origin)).toEqual([true])
    expect(proxy.requests.slice(before.proxy)).toEqual([{ method: 'GET', target: origin.url('/f.bin') }])
  })

  it('takes the proxy from HTTP_PROXY, and goes direct for a host in NO_PROXY', async () => {
    process.env.HTTP_PROXY = proxy.url
    const before = { origin: origin.log.length, proxy: proxy.requests.length }
    await download(origin.url('/f.bin'), { output: join(dir, 'a.bin'), sha256 })
    expect(viaProxy(before.origin)).toEqual([true])
    expect(proxy.requests.length).toBe(before.proxy + 1)

    process.env.NO_PROXY = 'localhost,127.0.0.1'
    await download(origin.url('/f.bin'), { output: join(dir, 'b.bin'), sha256 })
    expect(viaProxy(before.origin + 1)).toEqual([false])
    expect(proxy.requests.length).toBe(before.proxy + 1)
    expect(await readFile(join(dir, 'b.bin'))).toEqual(data)
  })

  it('goes direct with `proxy: false` although HTTP_PROXY is set', async () => {
    process.env.http_proxy = proxy.url
    const before = { origin: origin.log.length, proxy: proxy.requests.length }
    await download(origin.url('/f.bin'), { output: join(dir, 'f.bin'), proxy: false, sha256 })
    expect(viaProxy(before.origin)).toEqual([false])
    expect(proxy.requests.length).toBe(before.proxy)
  })

  it('resumes through the proxy with Range and If-Range intact', async () => {
    const flaky = await startOrigin({ files: { '/f.bin': data }, fault: (req) => (req.n === 1 ? { dropAfter: 100 * 1024, rateBytesPerSecond: 1024 * 1024 } : undefined) })
    // Paced, so the proxy has relayed the first bytes long before the drop (a proxy may lose what it holds when the origin resets).
    try {
      const result = await download(flaky.url('/f.bin'), { output: join(dir, 'f.bin'), proxy: proxy.url, sha256, backoff: { baseMs: 10, capMs: 20 } })
      expect(result.bytes).toBe(data.length)
      expect(flaky.log.length).toBe(2)
      expect(flaky.log.every((r) => /tinyproxy/.test(String(r.headers.via ?? '')))).toBe(true)
      expect(flaky.log[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-/)
      expect(flaky.log[1]?.headers['if-range']).toBe(flaky.etag('/f.bin'))
    } finally {
      await flaky.close()
    }
  })

  describe.skipIf(OPENSSL === undefined)('https', () => {
    let pki: TestPki
    let secure: Origin
    beforeAll(async () => {
      pki = await createTestPki()
      secure = await startOrigin({ files: { '/f.bin': data }, tls: pki.server })
    })
    afterAll(async () => {
      await secure?.close()
      await pki?.remove()
    })

    it('tunnels https through HTTPS_PROXY with CONNECT, verifying the origin with `ca`', async () => {
      process.env.HTTPS_PROXY = proxy.url
      const before = proxy.requests.length
      const result = await download(secure.url('/f.bin'), { output: join(dir, 'f.bin'), ca: pki.ca.cert, sha256 })
      expect(result.bytes).toBe(data.length)
      expect(proxy.requests.slice(before)).toEqual([{ method: 'CONNECT', target: `127.0.0.1:${secure.port}` }])
      // A tunnel: the proxy never saw the request, so it added no Via.
      expect(secure.log.at(-1)?.headers.via).toBeUndefined()
    })
  })
})
