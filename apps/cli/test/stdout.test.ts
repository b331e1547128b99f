// haul get … -o -: the bytes go to stdout as they arrive, verified on the way, against a real
// origin on 127.0.0.1 and the real binary with a real pipe.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UnixfsStore, killChildren, startOrigin, trackGateways, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HAUL, haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
const gateways = trackGateways({ lifetimeMs: 60_000 })
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-stdout-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await gateways.closeAll()
  await rm(dir, { recursive: true, force: true })
})

/** Runs the real binary with its stdout as raw bytes; `readBytes` closes our end after that many. */
function runRaw(args: string[], options: { readBytes?: number } = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HAUL, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const parts: Buffer[] = []
    let received = 0
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      parts.push(chunk)
      received += chunk.length
      if (options.readBytes !== undefined && received >= options.readBytes) child.stdout.destroy() // like `| head -c N`
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(parts), stderr })
    })
  })
}

describe('haul get URL -o -', () => {
  it('writes the verified bytes to stdout, creates nothing on disk, and says what it wrote on stderr', async () => {
    const data = testBytes(3 * MiB)
    origin = await startOrigin({ files: { '/f': data } })
    const { code, stdout, stderr } = await runRaw(['get', origin.url('/f'), '-o', '-', '--sha256', sha256(data)])
    expect(code).toBe(0)
    expect(stdout.equals(data)).toBe(true)
    expect(stderr).toMatch(/Wrote 3\.0 MiB in [\d.]+m?s at [\d.]+ [KMG]?i?B\/s to stdout, sha256 /)
    expect(await readdir(dir)).toEqual([])
  })

  it('a digest mismatch exits 4 after every byte went out, and says stdout cannot be un-written', async () => {
    const data = testBytes(MiB)
    origin = await startOrigin({ files: { '/f': data } })
    const { code, stdout, stderr } = await runRaw(['get', origin.url('/f'), '-o', '-', '--sha256', 'c'.repeat(64)])
    expect(code).toBe(4)
    expect(stdout.length).toBe(data.length)
    expect(stderr).toMatch(/can't be taken back/)
    expect(await readdir(dir)).toEqual([])
  })

  it('a dropped connection resumes with a Range from the byte already written: the output is whole, each byte sent once', async () => {
    const data = testBytes(4 * MiB)
    origin = await startOrigin({ files: { '/f': data }, fault: (req) => (req.n === 1 ? { dropAfter: MiB + 7 } : undefined) })
    const { code, stdout } = await runRaw(['get', origin.url('/f'), '-o', '-', '--sha256', sha256(data), '-q'])
    expect(code).toBe(0)
    expect(sha256(stdout)).toBe(sha256(data))
    const ranged = origin.log.find((r) => r.n > 1 && r.headers.range !== undefined)
    expect(ranged?.headers.range).toMatch(/^bytes=\d+-$/)
    expect(Number(/^bytes=(\d+)-/.exec(ranged!.headers.range!)![1])).toBeGreaterThan(0)
    // Bytes that had arrived but were not yet written to stdout when the connection failed go
    // with it (the body stream's buffer behind a slow reader): fetched again, at most the 1 MiB
    // sent before the drop; a restart from 0 would send it all again.
    expect(origin.bytesSent('/f')).toBeLessThanOrEqual(data.length + MiB + 7)
  })

  it('a reader that goes away (like `| head -c 1000`) ends the download with exit 6 and a message', async () => {
    origin = await startOrigin({ files: { '/f': testBytes(32 * MiB) }, rateBytesPerSecond: 32 * MiB })
    const { code, stdout, stderr } = await runRaw(['get', origin.url('/f'), '-o', '-', '-q'], { readBytes: 1000 })
    expect(code).toBe(6)
    expect(stdout.length).toBeGreaterThanOrEqual(1000)
    expect(stderr).toMatch(/Could not write to -: .*EPIPE/)
  })

  it('ipfs://CID -o -: every block verified against its CID on the way out; a directory CID is refused (exit 2)', async () => {
    const data = testBytes(2 * MiB)
    const store = new UnixfsStore()
    const cid = await store.addFile(data, { profile: 'raw-leaves' })
    const { cid: root } = await store.addDirectory([{ path: 'a.bin', content: data }])
    const gateway = await gateways.start({ store })
    const file = await runRaw(['get', `ipfs://${cid.toString()}`, '--gateway', gateway.url, '-o', '-', '-q'])
    expect(file.code).toBe(0)
    expect(sha256(file.stdout)).toBe(sha256(data))
    const folder = await runRaw(['get', `ipfs://${root.toString()}`, '--gateway', gateway.url, '-o', '-', '-q'])
    expect(folder.code).toBe(2)
    expect(folder.stdout.length).toBe(0)
    expect(folder.stderr).toMatch(/is a directory/)
  })

  it('-o - with --json is refused (both want stdout), before any request', async () => {
    origin = await startOrigin({ files: { '/f': 'x' } })
    const child = haul(['get', origin.url('/f'), '-o', '-', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    expect(child.events.at(-1)).toMatchObject({ event: 'error', code: 'HAUL_USAGE', message: expect.stringMatching(/-o - writes the file to stdout, where --json writes its events/) })
    expect(origin.requests).toBe(0)
  })
})
