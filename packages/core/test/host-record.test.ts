import { randomBytes } from 'node:crypto'
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
  })

  it('is not handed to a reader that began after it was written (it belongs to an earlier commit)', async () => {
    const path = lockPath()
    await writeHostRecord(path, '{"old":1}')
    expect(await readHostRecord(path, Date.now() + 1)).toBeUndefined()
  })

  it('is removed by a holder that committed nothing, so that an earlier record cannot stand in for it', async () => {
    const path = lockPath()
    const began = Date.now()
    await writeHostRecord(path, '{"committed":1}')
    await writeHostRecord(path, undefined)
    expect(await readHostRecord(path, began)).toBeUndefined()
  })
})
