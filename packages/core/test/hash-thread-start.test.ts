import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const module = fileURLToPath(new URL('../dist/verify/hash-thread.js', import.meta.url))

describe('startHashThread', () => {
  it('starts the thread before any digest, and an idle thread does not keep the process alive', () => {
    // A fresh process: nothing has started the thread yet. It must exit on its own afterwards
    // (execFileSync would time out otherwise), with the thread started and able to hash.
    const script = `
      const { HashThread, startHashThread } = await import(${JSON.stringify(module)})
      const before = HashThread.running
      startHashThread()
      const after = HashThread.running
      const block = new Uint8Array(1 << 16).fill(7)
      const { digest } = await HashThread.shared().digestBlock('sha256', block.buffer, 0, block.length)
      const expected = (await import('node:crypto')).createHash('sha256').update(new Uint8Array(1 << 16).fill(7)).digest('hex')
      process.stdout.write(JSON.stringify({ before, after, same: Buffer.from(digest).toString('hex') === expected }))`
    // --input-type=module once broke the worker's program; a V8 flag, if passed on, its start.
    for (const flags of [['--input-type=module'], ['--max-semi-space-size=16', '--input-type=module']]) {
      const out = execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 20_000 })
      expect(JSON.parse(out)).toEqual({ before: false, after: true, same: true })
    }
  })
})
