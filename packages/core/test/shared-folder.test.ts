// The pieces that keep the transaction correct on a folder other hosts share (where locks may not
// span hosts): bounded retries of lost races, the first commit winning, and the re-check that
// accepts a file another host committed. The whole story runs on real sshfs mounts in
// apps/cli/test/network-folder.test.ts; these pin each piece down on a local folder.
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { landedMeanwhile } from '../src/commit/landed-meanwhile.js'
import { recheckDestination } from '../src/commit/recheck.js'
import type { CommitRecord } from '../src/commit/commit-record.js'
import { MAX_RACE_ATTEMPTS, isGone, raceDelay, retryRace } from '../src/fs-race.js'
import { acquireLock } from '../src/lock/lock.js'
import { releaseDestination } from '../src/stage/stage.js'
import { lockPathFor, stagingDirFor } from '../src/stage/staging-paths.js'
import { testBytes } from './helpers/memory-source.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-shared-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Puts `bytes` at `path` the way a commit does: a new file renamed over it. */
async function commit(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, bytes)
  await rename(tmp, path)
}

describe('lost races (fs-race)', () => {
  it('counts ENOENT and ESTALE as lost races, and nothing else', async () => {
    const enoent = await open(join(dir, 'missing')).catch((err: unknown) => err)
    const eisdir = await open(dir, 'w').catch((err: unknown) => err)
    expect(isGone(enoent)).toBe(true)
    expect(isGone(eisdir)).toBe(false)
    // Node 20's libuv has no name for ESTALE: it arrives as "Unknown system error -116".
    expect(isGone(Object.assign(new Error('Unknown system error -116, fstat'), { errno: -116, code: 'Unknown system error -116' }))).toBe(true)
  })

  it('retries a lost race until the name is back, and rethrows anything else at once', async () => {
    const path = join(dir, 'appears')
    let attempts = 0
    const opened = retryRace(async () => {
      attempts++
      if (attempts === 4) await writeFile(path, 'here now')
      return open(path)
    })
    const file = await opened
    await file.close()
    expect(attempts).toBe(4)
    let other = 0
    await expect(
      retryRace(async () => {
        other++
        return open(dir, 'w')
      }),
    ).rejects.toMatchObject({ code: 'EISDIR' })
    expect(other).toBe(1)
  })

  it('backs off past a network folder\'s stale caches (about a second) and is bounded', () => {
    const delays = Array.from({ length: MAX_RACE_ATTEMPTS }, (_, i) => raceDelay(i + 1))
    expect(delays.slice(0, 2)).toEqual([0, 0])
    const total = delays.reduce((a, b) => a + b, 0)
    expect(total).toBeGreaterThan(5000)
    expect(total).toBeLessThan(30_000)
    expect(Math.max(...delays)).toBeLessThanOrEqual(250)
  })
})

describe('the first commit wins (landedMeanwhile)', () => {
  it('yields only to the same bytes committed since the lock was taken', async () => {
    const path = join(dir, 'f.bin')
    const ours = testBytes(256 * 1024, 3)
    // Nothing there then, nothing there now: commit.
    expect(await landedMeanwhile(path, undefined, ours.length, sha256(ours))).toBe(false)
    // Someone else committed the same bytes meanwhile: yield.
    await commit(path, ours)
    expect(await landedMeanwhile(path, undefined, ours.length, sha256(ours))).toBe(true)
    // The file was already there when the lock was taken (an older copy): replace it as always.
    const found = await stat(path)
    expect(await landedMeanwhile(path, found, ours.length, sha256(ours))).toBe(false)
    // Other bytes of the same size, or another size: commit ours.
    await commit(path, testBytes(ours.length, 4))
    expect(await landedMeanwhile(path, found, ours.length, sha256(ours))).toBe(false)
    await commit(path, testBytes(1000, 3))
    expect(await landedMeanwhile(path, undefined, ours.length, sha256(ours))).toBe(false)
  })
})

describe('the re-check after the lock', () => {
  it("accepts a file replaced by the same bytes by the record's SHA-256, without a digest given, and refuses other bytes", async () => {
    const path = join(dir, 'f.bin')
    const bytes = testBytes(128 * 1024, 5)
    await commit(path, bytes)
    const st = await stat(path)
    const record: CommitRecord = { source: 'https://example/f.bin', size: bytes.length, digests: { sha256: sha256(bytes) }, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs }
    expect(await recheckDestination(path, record.source, [], record, undefined, false, await stat(path))).toEqual({ size: bytes.length, sha256: sha256(bytes) })
    // Another host committed the same bytes over it: a new inode, the same SHA-256.
    await commit(path, bytes)
    expect((await stat(path)).ino).not.toBe(st.ino)
    expect(await recheckDestination(path, record.source, [], record, undefined, false, await stat(path))).toEqual({ size: bytes.length, sha256: sha256(bytes) })
    // Not for another source's record, nor for other bytes.
    expect(await recheckDestination(path, 'https://example/other', [], record, undefined, false, await stat(path))).toBeUndefined()
    await commit(path, testBytes(bytes.length, 6))
    expect(await recheckDestination(path, record.source, [], record, undefined, false, await stat(path))).toBeUndefined()
  })
})

describe('the lock file while another host stages', () => {
  it('stays while a writer of another host has a staging folder (its lock is on that file), and goes with the last one', async () => {
    const destination = join(dir, 'f.bin')
    const root = stagingDirFor(destination)
    // A writer named by another host: haul here can't tell whether it lives, so it may.
    const elsewhere = join(root, 'w.otherhost-0badc0de.4242.99.cafe')
    await mkdir(elsewhere, { recursive: true })
    const first = await acquireLock(lockPathFor(destination))
    await releaseDestination(first, destination, '{"committed":"here"}')
    expect((await readdir(root)).sort()).toEqual(['lock', 'w.otherhost-0badc0de.4242.99.cafe'])
    // Whoever comes next here finds that very file, and the record in it.
    const second = await acquireLock(lockPathFor(destination))
    expect(second.handedOver).toBe('{"committed":"here"}')
    await rm(elsewhere, { recursive: true })
    await releaseDestination(second, destination)
    expect(await readdir(dir)).toEqual([])
  })

  it("stays as well while another host's writer has only its lone partial there (no folder yet)", async () => {
    const destination = join(dir, 'f.bin')
    const root = stagingDirFor(destination)
    const elsewhere = join(root, 'w.otherhost-0badc0de.4242.99.cafe.part')
    await mkdir(root)
    await writeFile(elsewhere, 'partial')
    const first = await acquireLock(lockPathFor(destination))
    await releaseDestination(first, destination, '{"committed":"here"}')
    expect((await readdir(root)).sort()).toEqual(['lock', 'w.otherhost-0badc0de.4242.99.cafe.part'])
    await rm(elsewhere)
    const second = await acquireLock(lockPathFor(destination))
    await releaseDestination(second, destination)
    expect(await readdir(dir)).toEqual([])
  })
})
