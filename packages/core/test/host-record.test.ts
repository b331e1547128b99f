import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readHostRecord, writeHostRecord } from '../src/lock/host-record.js'

/** A lock path nobody else uses, so that each test has its own copy. */
const lockPath = (): string => join(tmpdir(), `haul-host-record-${randomBytes(8).toString('hex')}`, '.f.bin.haul', 'lock')

describe('the host-local copy of a commit record', () => {
  it('hands the last record to a reader that began acquiring before it was written', async () => {
    const path = lockPath()
    const began = Date.now()
    await writeHostRecord(path, '{"first":1}')
    await writeHostRecord(path, '{"second":2}')
    expect(await readHostRecord(path, began)).toBe('{"second":2}')
    // Another lock path has its own copy.
    expect(await readHostRecord(lockPath(), began)).toBeUndefined()
    await writeHostRecord(path, undefined)
  })

  it('is not handed to a reader that began after it was written (it belongs to an earlier commit)', async () => {
    const path = lockPath()
    await writeHostRecord(path, '{"old":1}')
    expect(await readHostRecord(path, Date.now() + 1)).toBeUndefined()
    await writeHostRecord(path, undefined)
  })

  it('is removed by a holder that committed nothing, so that an earlier record cannot stand in for it', async () => {
    const path = lockPath()
    const began = Date.now()
    await writeHostRecord(path, '{"committed":1}')
    await writeHostRecord(path, undefined)
    expect(await readHostRecord(path, began)).toBeUndefined()
  })

  it('is neither written nor read in a folder others can write (a planted record would decide whether a download runs)', async () => {
    const previous = process.env.TMPDIR
    const root = await mkdtemp(join(tmpdir(), 'haul-host-record-tmp-'))
    try {
      process.env.TMPDIR = root
      const shared = join(root, `haul-${process.getuid?.() ?? 'user'}`)
      await mkdir(shared)
      await chmod(shared, 0o777)
      const path = lockPath()
      const began = Date.now()
      await writeHostRecord(path, '{"committed":1}')
      expect(await readHostRecord(path, began)).toBeUndefined()
      await chmod(shared, 0o700)
      await writeHostRecord(path, '{"committed":1}')
      expect(await readHostRecord(path, began)).toBe('{"committed":1}')
    } finally {
      if (previous === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = previous
      await rm(root, { recursive: true, force: true })
    }
  })
})
