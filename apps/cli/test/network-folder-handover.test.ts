// How a lock holder's commit record reaches the processes waiting behind it on a network folder,
// for real: two sshfs mounts of one export, attributes cached for a second.
//
// On sshfs the kernel inode a process has open and locked stands for a *name*: when another
// host replaces the file under that name, the next look at the name gives the inode the new
// file's attributes, and for as long as they are cached, reads through a descriptor of the old
// file stop at the new one's size. That is what made a second process on one mount download
// again after the first committed there (issue 16): its read of the record came back empty.
import { createHash } from 'node:crypto'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { acquireLock, lockPathFor } from '@haul/core/driver'
import { killChildren, sshfsAvailable, startOrigin, startSshfs, testBytes, type Origin, type SshfsExport } from '@haul/testkit'
import { haul } from './helpers.js'
import { sha256File } from './network-harness.js'

const SIZE = 4 * 1024 * 1024

const available = sshfsAvailable()
let net: SshfsExport | undefined
let origin: Origin | undefined
const data = testBytes(SIZE, 162)
const digest = createHash('sha256').update(data).digest('hex')

describe.skipIf(!available.ok)(`commit records on a network folder (two sshfs mounts of one export)${available.ok ? '' : ` (skipped: ${available.reason})`}`, () => {
  beforeAll(async () => {
    net = await startSshfs({ mounts: 2 })
    origin = await startOrigin({ files: { '/f.bin': data }, lifetimeMs: 300_000 })
  })
  afterEach(async () => {
    await killChildren()
  })
  afterAll(async () => {
    await killChildren()
    await origin?.close()
    await net?.close()
  })

  it("a waiter gets its holder's record though another host replaced the lock file while it waited", async () => {
    await mkdir(join(net!.export, 'replaced'))
    const [here, there] = net!.mounts.map((m) => lockPathFor(join(m, 'replaced', 'f.bin')))
    const recordHere = JSON.stringify({ source: 'here', size: 1, digests: { sha256: 'a'.repeat(64) }, dev: 1, ino: 1, mtimeMs: 1 })
    const recordThere = JSON.stringify({ source: 'there', size: 1, digests: { sha256: 'b'.repeat(64) }, dev: 1, ino: 1, mtimeMs: 1 })
    const holder = await acquireLock(here!, { noWait: true })
    let onWait!: () => void
    const waiting = new Promise<void>((resolve) => (onWait = resolve))
    const waiter = acquireLock(here!, { onWait })
    await waiting
    // The other host: its holder hands over and removes the lock file, a newcomer there makes a fresh one.
    const other = await acquireLock(there!, { noWait: true })
    await other.release(recordThere)
    const newcomer = await acquireLock(there!, { noWait: true })
    await holder.release(recordHere)
    const got = await waiter
    try {
      expect(got.handedOver).toBe(recordHere)
    } finally {
      await got.release()
      await newcomer.release()
    }
  })

  it("a record is checked against the file's bytes, not its stat: a file of the same size, inode and second under the name is other bytes", async () => {
    await mkdir(join(net!.export, 'identity'))
    const output = join(net!.mounts[0]!, 'identity', 'f.bin')
    // Other bytes of the same size under the name, and a record that names the file's stat as
    // this mount shows it (what a holder here saw before another host renamed these over it).
    await writeFile(output, testBytes(SIZE, 163))
    const st = await stat(output)
    const record = { source: origin!.url('/f.bin'), size: SIZE, digests: { sha256: digest }, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs }
    const planted = await acquireLock(lockPathFor(output), { noWait: true })
    await planted.release(JSON.stringify(record), { keepFile: true })
    const before = origin!.bytesSent('/f.bin')
    const get = haul(['get', origin!.url('/f.bin'), '-o', output, '--json'], net!.mounts[0]!)
    expect(await get.waitForExit()).toMatchObject({ code: 0 })
    expect(get.events.some((e) => e.event === 'start')).toBe(true)
    expect(get.events.at(-1)).toMatchObject({ event: 'done', sha256: digest })
    expect(get.events.at(-1)?.cached).toBeUndefined()
    expect(origin!.bytesSent('/f.bin') - before).toBe(SIZE)
    expect(await sha256File(join(net!.export, 'identity', 'f.bin'))).toBe(digest)
    expect(await readdir(join(net!.export, 'identity'))).toEqual(['f.bin'])
  })
})
