// Bad input at the CLI: each is a clear message and exit 2 before any request (the origin
// counts 0 requests). Runs `main` in-process for speed, and the real binary once for the status.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killChildren, spawnNode, startOrigin, type Origin } from '@haul/testkit'
import { main } from '../src/main.js'
import { bin } from './crash-harness.js'

let origin: Origin
let dir: string
beforeAll(async () => {
  origin = await startOrigin({ files: { '/f.bin': 'hello' }, lifetimeMs: 60_000 })
  dir = await mkdtemp(join(tmpdir(), 'haul-usage-'))
})
afterAll(async () => {
  await killChildren()
  await origin.close()
  await rm(dir, { recursive: true, force: true })
})

async function run(argv: string[]): Promise<{ code: number; events: Array<Record<string, unknown>>; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream, stderr: { write: (s: string) => ((stderr += s), true) } as NodeJS.WritableStream, cwd: dir })
  const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { code, events, stderr }
}

const H = 'ab'.repeat(32)
const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64')
const CIDV1 = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' // raw, sha256 of "hello world"

/** [what, argv after `get`, a phrase the message must contain] */
const CASES: Array<[string, (url: string) => string[], RegExp]> = [
  ['no source', () => [], /needs a SOURCE/],
  ['an empty URL host', () => ['http://'], /not a valid URL/],
  ['a space in the host', () => ['http://exa mple.com/x'], /not a valid URL/],
  ['an unclosed IPv6 host', () => ['http://[::1'], /not a valid URL/],
  ['a port beyond 65535', () => ['https://127.0.0.1:99999/x'], /not a valid URL/],
  ['an ftp URL', () => ['ftp://127.0.0.1/f'], /Unsupported source/],
  ['a file URL', () => ['file:///etc/passwd'], /Unsupported source/],
  ['a javascript: URL', () => ['javascript:alert(1)'], /not a CID|IPFS address/],
  ['an ipfs:// without a CID', () => ['ipfs://'], /no CID/],
  ['/ipfs/ without a CID', () => ['/ipfs/'], /no CID/],
  ['a string that is not a CID', () => ['ipfs://notacid'], /not a CID/],
  ['a truncated CIDv0', () => ['Qm123'], /not a CID/],
  ['a CIDv1 with a bad base32 body', () => ['bafyzzzz'], /not a CID/],
  ['a non-UnixFS codec (dag-cbor)', () => ['ipfs://bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'], /codec/],
  ['a path that climbs out with ..', () => [`ipfs://${CIDV1}/a/../../etc`], /\.\./],
  ['a sha256 too short', (u) => [u, '--sha256', 'abc'], /64 hex/],
  ['a sha256 not hex', (u) => [u, '--sha256', 'z'.repeat(64)], /64 hex/],
  ['a sha256 given as --sha512', (u) => [u, '--sha512', H], /128 hex/],
  ['SRI with bad base64', (u) => [u, '--integrity', 'sha256-!!!'], /integrity/],
  ['SRI with an unsupported algorithm', (u) => [u, '--integrity', 'md5-abc'], /integrity/],
  ['SRI with an empty digest', (u) => [u, '--integrity', 'sha256-'], /integrity/],
  ['SRI of the wrong length', (u) => [u, '--integrity', `sha256-${b64(31)}`], /32 bytes/],
  ['a checksum with an unknown algorithm', (u) => [u, '--checksum', 'foo:abc'], /ALGO:HEX/],
  ['a checksum without a colon', (u) => [u, '--checksum', 'sha256'], /ALGO:HEX/],
  ['a checksum one byte too long', (u) => [u, '--checksum', `sha256:${H}00`], /64 hex/],
  ['two different sha256 digests (--sha256 and --integrity)', (u) => [u, '--sha256', H, '--integrity', `sha256-${b64(32)}`], /different sha256/],
  ['two different sha256 digests (--sha256 and --checksum)', (u) => [u, '--sha256', H, '--checksum', `sha256:${'cd'.repeat(32)}`], /different sha256/],
  ['--json with --quiet', (u) => [u, '--json', '--quiet'], /do not go together/],
  ['--gateway for an HTTP source', (u) => [u, '--gateway', 'http://127.0.0.1:1'], /--gateway is for IPFS/],
  ['--mirror for an IPFS source', (u) => [`ipfs://${CIDV1}`, '--mirror', u], /--mirror is for HTTP/],
  ['--header for an IPFS source', () => [`ipfs://${CIDV1}`, '--header', 'A: b'], /--header is for HTTP/],
  ['a mirror that is not http', (u) => [u, '--mirror', 'ftp://127.0.0.1/y'], /must be http/],
  ['a gateway that is not a URL', () => [`ipfs://${CIDV1}`, '--gateway', 'notaurl'], /not a valid URL/],
  ['-x 0', (u) => [u, '-x', '0'], /from 1 to 64/],
  ['-x 65', (u) => [u, '-x', '65'], /from 1 to 64/],
  ['-x 1.5', (u) => [u, '-x', '1.5'], /from 1 to 64/],
  ['-x without a value', (u) => [u, '-x'], /argument/],
  ['--retries 1001', (u) => [u, '--retries', '1001'], /from 0 to 1000/],
  ['--retries -1', (u) => [u, '--retries', '-1'], /retries/],
  ['--stall-timeout 0', (u) => [u, '--stall-timeout', '0'], /seconds/],
  ['--stall-timeout abc', (u) => [u, '--stall-timeout', 'abc'], /seconds/],
  ['an unknown option', (u) => [u, '--bogus'], /Unknown option/],
  ['an empty output path', (u) => [u, '-o', ''], /file path/],
  ['a blank output path', (u) => [u, '-o', '   '], /file path/],
  ['an output path with a NUL byte', (u) => [u, '-o', 'a\u0000b'], /NUL/],
  ['an output that is a folder', (u) => [u, '-o', tmpdir()], /is a directory/],
  ['a header with CR LF', (u) => [u, '--header', 'X: a\r\nInjected: 1'], /Name: value/],
  ['a header without a colon', (u) => [u, '--header', 'nocolon'], /Name: value/],
  ['a header without a name', (u) => [u, '--header', ': v'], /Name: value/],
]

describe('haul get: bad input is exit 2 with a clear message, before any request', () => {
  for (const [what, argv, phrase] of CASES) {
    it(what, async () => {
      const before = origin.requests
      const args = argv(origin.url('/f.bin'))
      const withOutput = args.includes('-o') || args.length === 0 ? args : [...args, '-o', join(dir, 'out.bin')]
      const { code, events } = await run(['get', ...withOutput, ...(withOutput.includes('--json') ? [] : ['--json'])])
      expect(code).toBe(2)
      const last = events.at(-1)
      expect(last).toMatchObject({ event: 'error', code: 'HAUL_USAGE' })
      expect(String(last?.message)).toMatch(phrase)
      expect(origin.requests).toBe(before)
      expect(await readdir(dir)).toEqual([])
    })
  }

  it('the real binary exits with status 2 and says so on stderr', async () => {
    const child = spawnNode(bin, ['get', origin.url('/f.bin'), '--sha256', 'nothex'], { cwd: dir })
    expect((await child.waitForExit()).code).toBe(2)
    expect(child.stderr).toMatch(/Malformed sha256 digest/)
    expect(origin.requests).toBe(0)
  })
})
