import { readFileSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { folderCalls, openFolder } from '../src/stage/folder-calls.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-folder-calls-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('folderCalls', () => {
  it('writes staged bytes and journal text in the call itself once the folder is known to be local (through the pool before), and both land', async () => {
    const unknown = folderCalls(dir) // not classified yet: treated as a network folder
    const file = await open(join(dir, 'data'), 'w+')
    try {
      expect(await unknown.write(file, Buffer.from('pooled'), 0, 6, 0)).toBe(6)

      expect((await openFolder(dir))?.network).toBe(false)
      const local = folderCalls(dir)
      expect(local).not.toBe(unknown)
      const written = local.write(file, Buffer.from('xxLOCALxx'), 2, 5, 6)
      // On a local filesystem the bytes are in the file before the promise is even looked at.
      expect(readFileSync(join(dir, 'data'), 'utf8')).toBe('pooledLOCAL')
      expect(await written).toBe(5)
    } finally {
      await file.close()
    }

    const journal = await open(join(dir, 'journal'), 'a')
    try {
      const appended = folderCalls(dir).writeText(journal, 'one\n')
      expect(readFileSync(join(dir, 'journal'), 'utf8')).toBe('one\n')
      await appended
      await folderCalls(dir).writeText(journal, 'two\n')
      expect(readFileSync(join(dir, 'journal'), 'utf8')).toBe('one\ntwo\n')
    } finally {
      await journal.close()
    }
  })

  it('turns a failed synchronous write into a rejection, not a throw', async () => {
    expect((await openFolder(dir))?.network).toBe(false)
    const file = await open(join(dir, 'read-only'), 'w')
    await file.close()
    const reader = await open(join(dir, 'read-only'), 'r')
    try {
      let result: Promise<number> | undefined
      expect(() => {
        result = folderCalls(dir).write(reader, Buffer.from('x'), 0, 1, 0)
      }).not.toThrow()
      await expect(result).rejects.toMatchObject({ code: 'EBADF' })
    } finally {
      await reader.close()
    }
  })
})
