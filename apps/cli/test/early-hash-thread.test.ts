import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startsHashThreadEarly } from '../src/early-hash-thread.js'

const mainModule = fileURLToPath(new URL('../dist/main.js', import.meta.url))
const hashThreadModule = fileURLToPath(new URL('../../../packages/core/dist/verify/hash-thread.js', import.meta.url))

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-early-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/**
 * Runs the CLI's `main` for `haul get ARGS…` in a child, against a server of its own on 127.0.0.1
 * that serves 4 KiB at /f (`URL` in ARGS is replaced by its address, `LIST` by an input file that
 * names it, saved as `out`): the exit status, whether `out` was saved, and whether
 * the process's hash thread was running when the command ended. A 4 KiB download never starts the
 * thread itself (it hashes in the call), so `running` says whether the command started it early.
 */
async function runGet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; running: boolean; file: boolean }> {
  const script = `
    import { createServer } from 'node:http'
    import { existsSync, writeFileSync } from 'node:fs'
    import { main } from ${JSON.stringify(mainModule)}
    const body = Buffer.alloc(4096, 7)
    const server = createServer((req, res) => res.writeHead(200, { 'content-length': body.length }).end(body))
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = 'http://127.0.0.1:' + server.address().port + '/f'
    const list = ${JSON.stringify(join(dir, 'list.txt'))}
    writeFileSync(list, url + '\\n  out=out\\n')
    const args = JSON.parse(process.argv[1]).map((a) => (a === 'LIST' ? list : a.replaceAll('URL', url)))
    const sink = { write: () => true, isTTY: false }
    const env = { ...process.env, ...JSON.parse(process.argv[2]) }
    const code = await main(['get', ...args], { stdout: sink, stderr: sink, cwd: ${JSON.stringify(dir)}, env })
    const { HashThread } = await import(${JSON.stringify(hashThreadModule)})
    server.close()
    process.stdout.write(JSON.stringify({ code, running: HashThread.running, file: existsSync(${JSON.stringify(join(dir, 'out'))}) }))`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(args), JSON.stringify(env)], { timeout: 30_000 })
  return JSON.parse(stdout) as { code: number; running: boolean; file: boolean }
}

describe('the hash thread started with the get command', () => {
  it('starts for one download to a file, before any digest needs it', async () => {
    expect(await runGet(['URL', '-o', 'out', '-q'])).toEqual({ code: 0, running: true, file: true })
  })

  it('does not start for a batch (-i), for HAUL_HASH_THREAD=0, or for stdout', async () => {
    expect(await runGet(['-i', 'LIST', '-q'])).toEqual({ code: 0, running: false, file: true })
    expect(await runGet(['URL', '-o', 'out', '-q'], { HAUL_HASH_THREAD: '0' })).toEqual({ code: 0, running: false, file: true })
    expect((await runGet(['URL', '-o', '-'])).running).toBe(false)
  })

  it('reads the arguments roughly, up to `--`', () => {
    const env = {}
    expect(startsHashThreadEarly(['https://x/y', '-o', 'y'], env)).toBe(true)
    expect(startsHashThreadEarly(['-x', '8', 'https://x/y'], env)).toBe(true)
    expect(startsHashThreadEarly(['ipfs://bafy…'], env)).toBe(true)
    for (const batch of [['-i', 'list'], ['--input', 'list'], ['--input=list'], ['a', '-o', '-'], ['a', '--output', '-'], ['a', '--output=-'], ['a', '-o-']]) {
      expect(startsHashThreadEarly(batch, env)).toBe(false)
    }
    expect(startsHashThreadEarly(['--', '-i'], env)).toBe(true)
    expect(startsHashThreadEarly(['a'], { HAUL_HASH_THREAD: '0' })).toBe(false)
    expect(startsHashThreadEarly(['a'], { HAUL_HASH_THREAD: '1' })).toBe(true)
  })
})
