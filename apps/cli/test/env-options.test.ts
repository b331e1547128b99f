// The tuning variables are read by the CLI alone and become download options; a value that
// means nothing is a usage error (exit 2) before any request.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isHaulError } from '@haul/core'
import { startOrigin, type Origin } from '@haul/testkit'
import { optionsFromEnv } from '../src/env-options.js'
import { main } from '../src/main.js'

const MiB = 1024 * 1024
const content = Buffer.alloc(3 * MiB + 17, 'haul')
let origin: Origin
let dir: string
beforeAll(async () => {
  origin = await startOrigin({ files: { '/f.bin': content }, lifetimeMs: 60_000 })
  dir = await mkdtemp(join(tmpdir(), 'haul-env-'))
})
afterAll(async () => {
  await origin.close()
  await rm(dir, { recursive: true, force: true })
})

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
  let stdout = ''
  const stdoutSink = { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream
  const stderrSink = { write: (s: string) => s.length >= 0 } as NodeJS.WritableStream
  const code = await main(argv, { stdout: stdoutSink, stderr: stderrSink, cwd: dir, env })
  return { code, stdout }
}

describe('optionsFromEnv', () => {
  it('maps each variable to its option, and unset or empty ones to nothing', () => {
    expect(optionsFromEnv({})).toEqual({})
    expect(optionsFromEnv({ HAUL_LOCK: '', HAUL_WRITEBACK_MIB: '', HAUL_HASH_THREAD: '', HAUL_FSYNC: '' })).toEqual({})
    expect(optionsFromEnv({ HAUL_LOCK: 'socket', HAUL_WRITEBACK_MIB: '0.5', HAUL_HASH_THREAD: '0', HAUL_FSYNC: '0' })).toEqual({ lockKind: 'socket', writebackBytes: MiB / 2, hashThread: false, fsync: false })
    expect(optionsFromEnv({ HAUL_LOCK: 'ofd', HAUL_WRITEBACK_MIB: '8', HAUL_HASH_THREAD: '1', HAUL_FSYNC: '1' })).toEqual({ lockKind: 'ofd', writebackBytes: 8 * MiB, hashThread: true, fsync: true })
  })

  it.each([
    ['HAUL_LOCK', 'flock', /HAUL_LOCK=flock is not a lock kind/],
    ['HAUL_WRITEBACK_MIB', '-1', /HAUL_WRITEBACK_MIB takes a number/],
    ['HAUL_HASH_THREAD', 'no', /HAUL_HASH_THREAD takes 0 or 1/],
    ['HAUL_FSYNC', 'off', /HAUL_FSYNC takes 0 or 1/],
  ])('rejects %s=%s with HAUL_USAGE naming the variable', (name, value, message) => {
    let error: unknown
    try {
      optionsFromEnv({ [name]: value })
    } catch (err) {
      error = err
    }
    expect(isHaulError(error, 'HAUL_USAGE')).toBe(true)
    expect((error as Error).message).toMatch(message)
  })
})

describe('haul get with the tuning variables', () => {
  it('exits 2 on a bad value before any request', async () => {
    const before = origin.log.length
    const { code, stdout } = await run(['get', '--json', origin.url('/f.bin'), '-o', 'bad.bin'], { HAUL_LOCK: 'flock' })
    expect(code).toBe(2)
    expect(stdout).toMatch(/HAUL_LOCK=flock/)
    expect(origin.log.length).toBe(before)
    expect(await readdir(dir)).not.toContain('bad.bin')
  })

  it('HAUL_LOCK=ofd works from the shipped (bundled) CLI: the native lock addon loads from outside the bundle', async () => {
    const { code, stdout } = await run(['get', '--json', origin.url('/f.bin'), '-o', 'ofd.bin'], { HAUL_LOCK: 'ofd' })
    expect(stdout).not.toMatch(/could not load/)
    expect(code).toBe(0)
    expect((await readFile(join(dir, 'ofd.bin'))).equals(content)).toBe(true)
  })

  it('downloads whole with every variable set away from its default (socket lock, no writeback, no hash thread, no fsync)', async () => {
    const env = { HAUL_LOCK: 'socket', HAUL_WRITEBACK_MIB: '0', HAUL_HASH_THREAD: '0', HAUL_FSYNC: '0' }
    const { code, stdout } = await run(['get', '--json', '-x', '2', origin.url('/f.bin'), '-o', 'tuned.bin', '--sha256', createHash('sha256').update(content).digest('hex')], env)
    expect(code).toBe(0)
    expect(stdout).toMatch(/"event":"done"/)
    expect((await readFile(join(dir, 'tuned.bin'))).equals(content)).toBe(true)
    expect((await readdir(dir)).filter((n) => n.endsWith('.haul'))).toEqual([])
  })
})
