import { existsSync, readFileSync } from 'node:fs'
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeLocks, sshfsAvailable, startSshfs, type SshfsExport } from '../src/sshfs.js'

const available = sshfsAvailable()
const python = existsSync('/usr/bin/python3') || process.env.PATH?.split(':').some((d) => existsSync(join(d, 'python3'))) === true

function mounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === path)
}

describe.skipIf(!available.ok)(`startSshfs${available.ok ? '' : ` (skipped: ${available.reason})`}`, () => {
  let net: SshfsExport | undefined
  beforeAll(async () => {
    net = await startSshfs()
  })
  afterAll(async () => {
    await net?.close()
  })

  it('mounts one export twice: a file written through one mount is read through the other', async () => {
    const [a, b] = net!.mounts
    expect(net!.mounts).toHaveLength(2)
    expect(mounted(a!) && mounted(b!)).toBe(true)
    await writeFile(join(a!, 'hello.txt'), 'from host 1')
    expect(await readFile(join(b!, 'hello.txt'), 'utf8')).toBe('from host 1')
    expect(await readFile(join(net!.export, 'hello.txt'), 'utf8')).toBe('from host 1')
  })

  it('renames atomically onto an existing file, seen from the other mount', async () => {
    const [a, b] = net!.mounts
    await writeFile(join(a!, 'target'), 'old')
    await writeFile(join(a!, 'tmp'), 'new')
    await rename(join(a!, 'tmp'), join(a!, 'target'))
    expect(await readFile(join(net!.export, 'target'), 'utf8')).toBe('new')
    // The other mount may answer from its cache for about a second, but only old or new.
    expect(['old', 'new']).toContain(await readFile(join(b!, 'target'), 'utf8'))
  })

  it.skipIf(!python)(`flock and OFD locks on one mount do not exclude the other mount${python ? '' : ' (skipped: python3 is not installed)'}`, async () => {
    const [a, b] = net!.mounts
    const probe = await probeLocks(join(a!, 'lock'), join(b!, 'lock'))
    // The probe itself works: on one mount, a second description is excluded…
    expect(probe.sameMountFlock).toBe(true)
    // …but across mounts both locks silently succeed, as between NFS/SMB hosts.
    expect({ flock: probe.flock, ofd: probe.ofd }).toEqual({ flock: false, ofd: false })
  })

  it('unmounts everything and stops sshd on close, and close is idempotent', async () => {
    const extra = await startSshfs({ mounts: 1 })
    const mount = extra.mounts[0]!
    expect(mounted(mount)).toBe(true)
    await extra.close()
    await extra.close()
    expect(mounted(mount)).toBe(false)
    await expect(stat(mount)).rejects.toMatchObject({ code: 'ENOENT' })
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: extra.port }, () => {
        socket.destroy()
        resolve(undefined)
      })
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code))
    })
    expect(refused).toBe('ECONNREFUSED')
  })
})
