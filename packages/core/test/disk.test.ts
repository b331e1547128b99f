import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HaulError, listStaged, runDownload } from '../src/index.js'
import { MemorySource, testBytes } from './helpers/memory-source.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Mounting a tmpfs needs root (or CAP_SYS_ADMIN); CI runs as root. */
function canMount(): boolean {
  const probe = join(tmpdir(), `haul-mount-probe-${process.pid}`)
  try {
    execFileSync('mkdir', ['-p', probe])
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' })
    execFileSync('umount', [probe], { stdio: 'ignore' })
    return true
  } catch {
    return false
  } finally {
    execFileSync('rm', ['-rf', probe])
  }
}
const mountable = canMount()

let mnt: string
beforeEach(async () => {
  mnt = await mkdtemp(join(tmpdir(), 'haul-disk-'))
})
afterEach(async () => {
  try {
    execFileSync('umount', [mnt], { stdio: 'ignore' })
  } catch {
    // not mounted
  }
  await rm(mnt, { recursive: true, force: true })
})

function mount(options: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt])
}

/** A source that does not announce its size (chunked), so preflight can't catch it. */
function unsized(data: Buffer): MemorySource {
  // It honours the validator it reports, as a real server does with If-Range.
  const source = new MemorySource(data, { validator: '"v"' })
  source.read = (async (req) => {
    const res = await MemorySource.prototype.read.call(source, req)
    return { ...res, info: { ranges: true, validator: '"v"' } }
  }) as MemorySource['read']
  return source
}

describe.skipIf(!mountable)('on a real small disk', () => {
  it('preflight fails with HAUL_NO_SPACE, saying how much to free, before any byte is written', async () => {
    mount('size=4m')
    const source = new MemorySource(testBytes(8 * MiB))
    const err = (await runDownload([source], { output: join(mnt, 'f') }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_NO_SPACE')
    expect(err.message).toMatch(/Free at least/)
    expect(source.bytesServed).toBe(0)
    expect(await readdir(mnt)).toEqual([])
  })

  it('ENOSPC during an unsized download is HAUL_NO_SPACE, keeps the partial, and the next run resumes it', async () => {
    mount('size=6m')
    const data = testBytes(10 * MiB)
    const out = join(mnt, 'f')
    const err = (await runDownload([unsized(data)], { output: out }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_NO_SPACE')
    const staged = await listStaged(out)
    expect(staged).toHaveLength(1)
    expect(staged[0]!.bytesOnDisk).toBeGreaterThan(2 * MiB)
    execFileSync('mount', ['-o', 'remount,size=32m', mnt])
    const again = unsized(data)
    const result = await runDownload([again], { output: out })
    expect(result.resumedFrom).toBe(staged[0]!.bytesOnDisk)
    expect(sha256(await readFile(out))).toBe(sha256(data))
    expect(await readdir(mnt)).toEqual(['f'])
  })

  it('a read-only folder fails with HAUL_IO and leaves the existing file untouched', async () => {
    mount('size=4m')
    await mkdir(join(mnt, 'sub'))
    await writeFile(join(mnt, 'sub', 'f'), 'keep me')
    execFileSync('mount', ['-o', 'remount,ro', mnt])
    const source = new MemorySource(testBytes(MiB))
    const err = (await runDownload([source], { output: join(mnt, 'sub', 'f') }).catch((e: unknown) => e)) as HaulError
    expect(err.code).toBe('HAUL_IO')
    console.log(err.message)
    expect(err.message).toMatch(/read-only|EROFS/i)
    expect(source.reads).toHaveLength(0)
    expect(await readFile(join(mnt, 'sub', 'f'), 'utf8')).toBe('keep me')
  })
})
