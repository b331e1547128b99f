// The flags people type first (from curl, wget and aria2c), against real origins on 127.0.0.1
// and the real binary.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closedPort, killChildren, startOrigin, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/main.js'
import { haul, testBytes } from './helpers.js'

const KiB = 1024
const MiB = 1024 * KiB
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-flags-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

async function run(argv: string[]): Promise<{ code: number; stderr: string; events: Array<Record<string, unknown>> }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream, stderr: { write: (s: string) => ((stderr += s), true) } as NodeJS.WritableStream, cwd: dir })
  return { code, stderr, events: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('flags from curl, wget and aria2c', () => {
  it('-c, -O, -P and -s are accepted: the file lands under its remote name in the -P folder, nothing on stderr', async () => {
    origin = await startOrigin({ files: { '/models/m.bin': 'weights' } })
    const child = haul(['get', '-c', '-O', '-s', '-P', 'out', origin.url('/models/m.bin')], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stderr).toBe('')
    expect(await readFile(join(dir, 'out', 'm.bin'), 'utf8')).toBe('weights')
  })

  it('conflicting spellings are usage errors before any request: -O with -o, -d and -P apart, -v with -q', async () => {
    origin = await startOrigin({ files: { '/f': 'x' } })
    const url = origin.url('/f')
    expect(await run(['get', url, '-O', '-o', 'f', '--json'])).toMatchObject({ code: 2, events: [expect.objectContaining({ message: expect.stringMatching(/-O saves under the remote name/) })] })
    expect(await run(['get', url, '-d', 'a', '-P', 'b', '--json'])).toMatchObject({ code: 2, events: [expect.objectContaining({ message: expect.stringMatching(/name the same folder/) })] })
    expect(await run(['get', url, '-v', '-q'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--verbose and --quiet/) })
    expect(await run(['get', url, '--limit-rate', 'fast'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--limit-rate takes a size such as 500K/) })
    expect(await run(['get', url, '--limit-rate', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/rate above 0/) })
    expect(await run(['get', url, '--timeout', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--timeout takes seconds/) })
    expect(await run(['get', url, '--connect-timeout', 'x'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--connect-timeout takes seconds/) })
    expect(await run(['get', url, '--cacert', join(dir, 'missing.pem')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--cacert: could not read/) })
    expect(await run(['get', url, '--proxy', 'not a url'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--proxy "not a url" is not a valid URL/) })
    expect(origin.requests).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('typo\'d schemes and bare host names get "did you mean", not "bad CID"; ftp:// stays unsupported', async () => {
    const cases: Array<[string, string]> = [
      ['http//127.0.0.1:8080/x.bin', 'http://127.0.0.1:8080/x.bin'],
      ['https:/example.com/x.bin', 'https://example.com/x.bin'],
      ['htp://example.com/f', 'http://example.com/f'],
      ['htps://example.com/f', 'https://example.com/f'],
      ['hhtp://example.com/f', 'http://example.com/f'],
      ['ipsf://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', 'ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'],
      ['example.com/f.bin', 'https://example.com/f.bin'],
      ['www.example.org', 'https://www.example.org'],
      ['localhost:8080/f', 'http://localhost:8080/f'],
      ['127.0.0.1/f', 'http://127.0.0.1/f'],
    ]
    for (const [typo, meant] of cases) {
      const { code, stderr } = await run(['get', typo])
      expect(code, typo).toBe(2)
      expect(stderr, typo).toContain(`Did you mean ${meant}?`)
      expect(stderr, typo).not.toMatch(/not a CID/)
    }
    expect((await run(['get', 'ftp://127.0.0.1/f'])).stderr).toMatch(/Unsupported source/)
    expect((await run(['get', 'Qm123'])).stderr).toMatch(/not a CID/)
    expect((await run(['get', 'http://127.0.0.1/f', '--mirror', 'htps://m.example/f'])).stderr).toContain('Did you mean https://m.example/f?')
  })

  it('--limit-rate 256K caps one download over all its connections (512 KiB, -x 2: at least 1.8 s)', async () => {
    const data = testBytes(512 * KiB)
    origin = await startOrigin({ files: { '/f': data } })
    const started = Date.now()
    const child = haul(['get', origin.url('/f'), '-o', 'f', '-x', '2', '--limit-rate', '256K', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(((512 - 25.6) / 256) * 1000)
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data))
    expect(child.events.filter((e) => e.event === 'retry')).toEqual([])
  })

  it('--total-limit-rate caps a batch together, --limit-rate each file of it', async () => {
    const files = { '/a': testBytes(256 * KiB, 1), '/b': testBytes(256 * KiB, 2) }
    origin = await startOrigin({ files })
    const urls = Object.keys(files).map((p) => origin!.url(p))
    let started = Date.now()
    const total = haul(['get', ...urls, '-d', 'total', '-j', '2', '--total-limit-rate', '256K', '-q'], dir)
    expect(await total.waitForExit()).toMatchObject({ code: 0 })
    // Both files through one 256 KiB/s bucket: 512 KiB take about 2 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((512 - 25.6) / 256) * 1000)
    started = Date.now()
    const each = haul(['get', ...urls, '-d', 'each', '-j', '2', '--limit-rate', '256K', '-q'], dir)
    expect(await each.waitForExit()).toMatchObject({ code: 0 })
    // Each file through its own bucket, side by side: about 1 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((256 - 25.6) / 256) * 1000)
    for (const [path, data] of Object.entries(files)) {
      expect(sha256(await readFile(join(dir, 'total', path.slice(1))))).toBe(sha256(data))
      expect(sha256(await readFile(join(dir, 'each', path.slice(1))))).toBe(sha256(data))
    }
  })

  it('--timeout gives up after that long in all: exit 3 naming --timeout, the partial kept and resumable', async () => {
    origin = await startOrigin({ files: { '/f': testBytes(8 * MiB) }, rateBytesPerSecond: 2 * MiB })
    const started = Date.now()
    const child = haul(['get', origin.url('/f'), '-o', 'f', '--timeout', '1', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 3 })
    expect(Date.now() - started).toBeLessThan(5000)
    expect(child.events.filter((e) => e.event === 'error')).toEqual([{ event: 'error', code: 'HAUL_SOURCE', message: expect.stringMatching(/Gave up after --timeout 1 s; the partial download is kept/) }])
    const status = haul(['status', 'f', '--json'], dir)
    await status.waitForExit()
    expect((JSON.parse(status.stdout) as { staged: Array<{ resumable: boolean }> }).staged).toEqual([expect.objectContaining({ resumable: true })])
  })

  it('-v prints each request and response line on stderr; -A sets the User-Agent', async () => {
    origin = await startOrigin({ files: { '/f': testBytes(64 * KiB) } })
    const child = haul(['get', origin.url('/f'), '-v', '-A', 'tester/1.0'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stderr).toMatch(new RegExp(`^> (HEAD|GET) ${origin.url('/f')}`, 'm'))
    expect(child.stderr).toMatch(new RegExp(`^< 200 OK ${origin.url('/f')} \\(\\d+ ms\\).*content-length: 65536`, 'm'))
    expect(origin.log.length).toBeGreaterThan(0)
    for (const request of origin.log) expect(request.headers['user-agent']).toBe('tester/1.0')
  })

  it('--proxy sends through the given proxy (a dead one fails, exit 3); --proxy "" ignores HTTP_PROXY', async () => {
    origin = await startOrigin({ files: { '/f': 'through' } })
    const dead = `http://127.0.0.1:${await closedPort()}`
    const refused = haul(['get', origin.url('/f'), '-o', 'a', '--proxy', dead, '--retries', '0'], dir)
    expect(await refused.waitForExit()).toMatchObject({ code: 3 })
    expect(origin.requests).toBe(0)
    const direct = haul(['get', origin.url('/f'), '-o', 'b', '--proxy', ''], dir, { env: { HTTP_PROXY: dead, http_proxy: dead, NO_PROXY: '', no_proxy: '' } })
    expect(await direct.waitForExit()).toMatchObject({ code: 0 })
    expect(await readFile(join(dir, 'b'), 'utf8')).toBe('through')
  })

  it('-k says loudly that certificates are not verified, whatever the mode', async () => {
    origin = await startOrigin({ files: { '/f': 'x' } })
    const child = haul(['get', origin.url('/f'), '-o', 'f', '-k', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stderr).toMatch(/WARNING: -k\/--insecure: TLS certificates are NOT verified/)
  })

  it('a batch stopped by SIGINT names each stopped file once (it used to print each abort twice)', async () => {
    const files = { '/a': testBytes(8 * MiB, 3), '/b': testBytes(8 * MiB, 4) }
    let bothAsked: () => void = () => undefined
    const asked = new Promise<void>((resolve) => (bothAsked = resolve))
    // Each body stalls after 1 MiB, so both files are mid-download when the signal comes.
    origin = await startOrigin({
      files,
      fault: (req) => {
        if (req.method === 'GET' && origin!.log.filter((r) => r.method === 'GET').length >= 2) bothAsked()
        return req.method === 'GET' ? { stallAfter: MiB } : undefined
      },
    })
    await writeFile(join(dir, 'list'), Object.keys(files).map((p) => origin!.url(p)).join('\n'))
    const child = haul(['get', '-i', 'list', '-j', '2'], dir)
    await asked
    child.signal('SIGINT')
    expect(await child.waitForExit()).toMatchObject({ code: 130 })
    for (const path of Object.keys(files)) expect(child.stderr.split(origin.url(path)).length - 1, child.stderr).toBe(1)
    expect(child.stderr).toMatch(/2 stopped by SIGINT; the partials are kept and the next run resumes them/)
    expect(child.stderr).not.toMatch(/Download aborted/)
  })
})
