import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { commitFile } from '../src/commit/commit-file.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-commit-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A staged file holding `text`, open as a commit finds it. */
async function staged(name: string, text: string): Promise<{ path: string; file: Awaited<ReturnType<typeof open>> }> {
  const path = join(dir, `.${name}.staged`)
  const file = await open(path, 'w+')
  await file.write(text)
  return { path, file }
}

describe('commitFile', () => {
  it('lands every one of many concurrent commits into one folder, whose fsyncs they share, and each only once its own rename is done', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `f${i}`)
    const files = await Promise.all(names.map((name) => staged(name, `content of ${name}`)))
    // Started in waves, so that renames complete while a folder fsync is running and must wait for the next one.
    const results = await Promise.all(
      files.map(async ({ path, file }, i) => {
        for (let wait = 0; wait < i % 4; wait++) await new Promise((resolve) => setImmediate(resolve))
        const ok = await commitFile(file, path, join(dir, names[i]!))
        return { ok, content: await readFile(join(dir, names[i]!), 'utf8') }
      }),
    )
    expect(results).toEqual(names.map((name) => ({ ok: true, content: `content of ${name}` })))
    expect((await readdir(dir)).sort()).toEqual([...names].sort())
  })

  it('fails a commit whose rename fails (no such folder) with HAUL_IO, and a commit after it still lands', async () => {
    const { path, file } = await staged('gone', 'x')
    // The destination's folder does not exist: the rename fails before any folder fsync.
    await expect(commitFile(file, path, join(dir, 'missing', 'gone'))).rejects.toMatchObject({ code: 'HAUL_IO' })
    const next = await staged('next', 'y')
    expect(await commitFile(next.file, next.path, join(dir, 'next'))).toBe(true)
    expect(await readFile(join(dir, 'next'), 'utf8')).toBe('y')
  })
})
