import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sshfsAvailable, startSshfs, type SshfsExport } from '@haul/testkit'
import { filesystemKind, statIdentityHolds } from '../src/lock/fs-kind.js'

describe('filesystemKind', () => {
  it('names a tmpfs as local', async () => {
    const path = await mkdtemp(join(tmpdir(), 'haul-fskind-'))
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path], { stdio: 'pipe' })
    } catch (err) {
      await rm(path, { recursive: true, force: true })
      return void console.warn(`skipped: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`)
    }
    try {
      expect(await filesystemKind(join(path, 'not', 'yet', 'there.bin'))).toEqual({ name: 'tmpfs', network: false, magic: 0x01021994 })
    } finally {
      execFileSync('umount', ['-l', path], { stdio: 'pipe' })
      await rm(path, { recursive: true, force: true })
    }
  })

  it('names /proc by its magic when it is not one it knows, and calls it local', async () => {
    expect(await filesystemKind('/proc/self')).toEqual({ name: '0x9fa0', network: false, magic: 0x9fa0 })
  })
})

const sshfs = sshfsAvailable()
describe.skipIf(!sshfs.ok)(`filesystemKind on sshfs${sshfs.ok ? '' : ` (skipped: ${sshfs.reason})`}`, () => {
  let net: SshfsExport | undefined
  beforeAll(async () => {
    net = await startSshfs({ mounts: 2 })
  })
  afterAll(async () => {
    await net?.close()
  })

  it('tells a FUSE mount by its mount type: fuse.sshfs is a network filesystem', async () => {
    expect(await filesystemKind(join(net!.mounts[0]!, 'model.bin'))).toEqual({ name: 'fuse.sshfs', network: true, magic: 0x65735546 })
  })

  it("says stat's identity can't tell a file from one renamed over it there: the inode number stays with the name", async () => {
    const a = join(net!.mounts[0]!, 'ident-a.bin')
    await writeFile(a, 'one')
    const before = await stat(a)
    // Another host (the other mount) renames other bytes over it.
    const [otherA, otherB] = [join(net!.mounts[1]!, 'ident-a.bin'), join(net!.mounts[1]!, 'ident-b.bin')]
    await writeFile(otherB, 'two')
    await rename(otherB, otherA)
    // The premise, on the real mount: here the replacement has the number the name had.
    expect((await stat(a)).ino).toBe(before.ino)
    expect(await readFile(a, 'utf8')).toBe('two')
    expect(statIdentityHolds(await filesystemKind(a))).toBe(false)
    expect(statIdentityHolds(await filesystemKind(tmpdir()))).toBe(true)
  })
})
