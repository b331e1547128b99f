// The network flags against real peers on 127.0.0.1: https servers with a self-signed
// certificate and with one from a private CA (made by openssl), and Debian's tinyproxy.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OPENSSL, TINYPROXY, createTestPki, killChildren, startOrigin, startTinyproxy, type Origin, type TestPki, type TestProxy } from '@haul/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { HAUL, haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const data = testBytes(MiB)

let dir: string
let origins: Origin[] = []
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-tls-'))
})
afterEach(async () => {
  await killChildren()
  await Promise.all(origins.map((o) => o.close()))
  origins = []
  await rm(dir, { recursive: true, force: true })
})

async function httpsOrigin(tls: { key: string; cert: string }): Promise<Origin> {
  const origin = await startOrigin({ files: { '/m.bin': { body: data, contentDisposition: 'attachment; filename="model.bin"' } }, tls })
  origins.push(origin)
  return origin
}

describe.skipIf(OPENSSL === undefined)('TLS: a self-signed server and a private CA (skipped: openssl not installed)', () => {
  let pki: TestPki
  beforeAll(async () => {
    pki = await createTestPki()
  })
  afterAll(async () => {
    await pki?.remove()
  })

  it('a self-signed server: refused with exit 3 and a message naming --cacert and -k; --cacert with its certificate lands it', async () => {
    const origin = await httpsOrigin(pki.selfSigned)
    const refused = haul(['get', origin.url('/m.bin'), '-o', 'f'], dir)
    expect(await refused.waitForExit()).toMatchObject({ code: 3 })
    expect(refused.stderr).toMatch(/--cacert FILE/)
    expect(refused.stderr).toMatch(/-k\/--insecure/)
    expect(await readdir(dir)).toEqual([])
    const trusted = haul(['get', origin.url('/m.bin'), '-o', 'f', '--cacert', pki.selfSigned.path], dir)
    expect(await trusted.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
  })

  it('-k lands it too, with the warning; without -o the name probe uses the same trust (Content-Disposition name)', async () => {
    const origin = await httpsOrigin(pki.selfSigned)
    const child = haul(['get', origin.url('/m.bin'), '-k'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stderr).toMatch(/WARNING: -k\/--insecure/)
    expect(await readdir(dir)).toEqual(['model.bin'])
  })

  it('a private CA: --cacert CA.pem or NODE_EXTRA_CA_CERTS=CA.pem; -o - streams through the same trust', async () => {
    const origin = await httpsOrigin(pki.server)
    const flag = haul(['get', origin.url('/m.bin'), '-o', 'a', '--cacert', pki.ca.path], dir)
    expect(await flag.waitForExit()).toMatchObject({ code: 0 })
    const env = haul(['get', origin.url('/m.bin'), '-o', 'b'], dir, { env: { NODE_EXTRA_CA_CERTS: pki.ca.path } })
    expect(await env.waitForExit()).toMatchObject({ code: 0 })
    for (const f of ['a', 'b']) expect(sha256(await readFile(join(dir, f)))).toBe(sha256(data))
    const streamed = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn(process.execPath, [HAUL, 'get', origin.url('/m.bin'), '-o', '-', '-q', '--cacert', pki.ca.path], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] })
      const parts: Buffer[] = []
      child.stdout.on('data', (c: Buffer) => parts.push(c))
      child.on('error', reject)
      child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(parts)) : reject(new Error(`exit ${String(code)}`))))
    })
    expect(sha256(streamed)).toBe(sha256(data))
  })

  it('a wrong file for --cacert is a usage error (exit 2) before any request', async () => {
    const origin = await httpsOrigin(pki.server)
    const child = haul(['get', origin.url('/m.bin'), '-o', 'f', '--cacert', join(pki.dir, 'server.key')], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    expect(child.stderr).toMatch(/PEM certificate/)
    expect(origin.requests).toBe(0)
  })
})

describe.skipIf(TINYPROXY === undefined)('--proxy through a real proxy (skipped: tinyproxy not installed)', () => {
  let proxy: TestProxy
  beforeAll(async () => {
    proxy = await startTinyproxy()
  })
  afterAll(async () => {
    await proxy?.close()
  })

  it('--proxy URL sends every request through it, whatever HTTP_PROXY says', async () => {
    const origin = await startOrigin({ files: { '/f': data } })
    origins.push(origin)
    const child = haul(['get', origin.url('/f'), '-o', 'f', '--proxy', proxy.url], dir, { env: { HTTP_PROXY: undefined, http_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined } })
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(proxy.requests).toContainEqual({ method: 'GET', target: origin.url('/f') })
  })
})
