// Real https servers with certificates made by openssl for this run: a self-signed one, one from a
// private CA, and one for another host name. Verification failures are permanent, tried once, and
// say how to trust the server; `ca` and `insecure` make the download work.
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HaulEvent } from '@haul/core'
import { createTestPki, OPENSSL, spawnNode, startOrigin, type Origin, type TestPki } from '@haul/testkit'
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import { bytes } from './helpers.js'

const data = bytes(64 * 1024)
const sha256 = createHash('sha256').update(data).digest('hex')
const quick = { backoff: { baseMs: 10, capMs: 20 } }

if (OPENSSL === undefined) console.warn('tls.test: skipping the TLS tests: openssl is not installed')

describe.skipIf(OPENSSL === undefined)('TLS verification', () => {
  let pki: TestPki
  let selfSigned: Origin
  let privateCa: Origin
  let wrongHost: Origin
  let dir: string

  beforeAll(async () => {
    pki = await createTestPki()
    const files = { '/f.bin': data }
    ;[selfSigned, privateCa, wrongHost] = await Promise.all([
      startOrigin({ files, tls: pki.selfSigned }),
      startOrigin({ files, tls: pki.server }),
      startOrigin({ files, tls: pki.wrongHost }),
    ])
  })
  afterAll(async () => {
    await Promise.all([selfSigned?.close(), privateCa?.close(), wrongHost?.close()])
    await pki?.remove()
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haul-tls-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it.each([
    ['a self-signed certificate', () => selfSigned, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['a private CA', () => privateCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a certificate for another host name', () => wrongHost, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID'],
  ])('refuses %s by default, once, with HAUL_SOURCE that says how to trust it', async (_, server, code) => {
    const events: HaulEvent[] = []
    const before = server().requests
    const err = await download(server().url('/f.bin'), { output: join(dir, 'f.bin'), onEvent: (e) => events.push(e), ...quick }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    const message = String((err as Error).message)
    expect(message).toMatch(new RegExp(code))
    expect(message).toContain('--cacert FILE')
    expect(message).toContain('NODE_EXTRA_CA_CERTS')
    expect(message).toContain('-k/--insecure')
    expect(events.filter((e) => e.event === 'retry')).toEqual([])
    expect(server().requests).toBe(before) // the handshake failed: no request reached the server
  })

  it('names the host name mismatch once the CA is trusted', async () => {
    const err = await download(wrongHost.url('/f.bin'), { output: join(dir, 'f.bin'), ca: pki.ca.cert, ...quick }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    expect(String(err)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/)
  })

  it('downloads from a private CA given as `ca` (PEM text), and from a self-signed server given its own certificate', async () => {
    expect((await download(privateCa.url('/f.bin'), { output: join(dir, 'a.bin'), ca: pki.ca.cert, sha256 })).bytes).toBe(data.length)
    expect((await download(selfSigned.url('/f.bin'), { output: join(dir, 'b.bin'), ca: [Buffer.from(pki.selfSigned.cert)], sha256 })).bytes).toBe(data.length)
  })

  it('keeps trusting NODE_EXTRA_CA_CERTS when `ca` adds a certificate (a child process with the variable set)', async () => {
    const script = join(dir, 'both.mjs')
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
    await writeFile(
      script,
      `import { download } from ${JSON.stringify(entry)}
const [privateUrl, selfUrl, out] = process.argv.slice(2)
const ca = ${JSON.stringify(pki.selfSigned.cert)}
for (const [url, name] of [[privateUrl, 'a'], [selfUrl, 'b']]) {
  const r = await download(url, { output: out + '/' + name, ca, retries: 0 })
  console.log(JSON.stringify({ event: 'ok', bytes: r.bytes }))
}
`,
    )
    const child = spawnNode(script, [privateCa.url('/f.bin'), selfSigned.url('/f.bin'), dir], { env: { NODE_EXTRA_CA_CERTS: pki.ca.path } })
    expect({ ...(await child.waitForExit()), stderr: child.stderr }).toMatchObject({ code: 0, stderr: '' })
    expect(child.events).toEqual([
      { event: 'ok', bytes: data.length },
      { event: 'ok', bytes: data.length },
    ])
  })

  it('downloads from every one of them with `insecure`', async () => {
    for (const [i, server] of [selfSigned, privateCa, wrongHost].entries()) {
      expect((await download(server.url('/f.bin'), { output: join(dir, `${i}.bin`), insecure: true, sha256 })).sha256).toBe(sha256)
    }
  })

  it.each([
    ['not PEM at all', 'hello'],
    ['a PEM block that is not a certificate', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n'],
  ])('rejects a `ca` that is %s with HAUL_USAGE before any request', async (_, ca) => {
    const before = privateCa.requests
    await expect(download(privateCa.url('/f.bin'), { output: join(dir, 'f.bin'), ca })).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    expect(privateCa.requests).toBe(before)
  })
})
