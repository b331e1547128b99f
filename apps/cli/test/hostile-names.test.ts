// Content-Disposition from a hostile server at the CLI: without -o the file lands inside the
// working folder under a safe name, whatever the server suggests, and nothing is created outside.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOrigin, type Origin } from '@haul/testkit'
import { main } from '../src/main.js'

let origin: Origin
let root: string
const body = 'payload\n'
/** [Content-Disposition, the name haul must use] */
const NAMES: Array<[string, string]> = [
  ['attachment; filename="../../evil.bin"', 'evil.bin'],
  ['attachment; filename="/etc/passwd"', 'passwd'],
  ['attachment; filename="..\\\\..\\\\win.bin"', 'win.bin'],
  ["attachment; filename*=UTF-8''..%2F..%2Fenc.bin", 'enc.bin'],
  ["attachment; filename*=UTF-8''nul%00byte.bin", 'nulbyte.bin'],
  ["attachment; filename*=UTF-8''%1B%5B31mred%0D%0A.bin", '[31mred.bin'],
  ['attachment; filename=".."', 'f.bin'],
  ['attachment; filename="."', 'f.bin'],
  ['attachment; filename=".bashrc"', 'bashrc'],
  ['attachment; filename="   "', 'f.bin'],
  ['attachment; filename="a<b>c:d|e?f*.bin"', 'a_b_c_d_e_f_.bin'],
  [`attachment; filename="${'x'.repeat(400)}.bin"`, 'x'.repeat(249)],
  ['attachment; filename="ok.bin"; filename*=UTF-8\'\'..%2Fstar.bin', 'star.bin'],
]

beforeAll(async () => {
  const files = Object.fromEntries(NAMES.map(([cd], i) => [`/${i}/f.bin`, { body, contentDisposition: cd }]))
  origin = await startOrigin({ files, lifetimeMs: 60_000 })
  root = await mkdtemp(join(tmpdir(), 'haul-names-'))
})
afterAll(async () => {
  await origin.close()
  await rm(root, { recursive: true, force: true })
})

describe('a hostile Content-Disposition', () => {
  NAMES.forEach(([cd, expected], i) => {
    it(`${JSON.stringify(cd).slice(0, 70)} lands as ${JSON.stringify(expected.slice(0, 20))} inside the working folder`, async () => {
      const cwd = join(root, String(i), 'work')
      await mkdir(cwd, { recursive: true })
      const sink = { write: () => true } as unknown as NodeJS.WritableStream
      const code = await main(['get', origin.url(`/${i}/f.bin`), '--json'], { stdout: sink, stderr: sink, cwd })
      expect(code).toBe(0)
      expect(await readdir(cwd)).toEqual([expected])
      expect(await readFile(join(cwd, expected), 'utf8')).toBe(body)
      expect(await readdir(join(root, String(i)))).toEqual(['work']) // nothing beside or above
    })
  })
})
