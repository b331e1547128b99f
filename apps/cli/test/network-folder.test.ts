// A fleet on a shared network folder, for real: two sshfs mounts of one export (OpenSSH's sftp
// server on 127.0.0.1), each standing for a host. flock/OFD locks on one mount do not exclude the
// other (checked below with haul's own lock), names and attributes are cached for a second, and
// one mount's rename or unlink lands between any two calls of the other. Rounds of `haul get`
// processes, half on each mount, started together, some with SIGKILLs of lock holders.
import { createHash } from 'node:crypto'
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_FOREIGN_STAGE_GRACE_MS } from '@haul/core'
import { acquireLock, lockPathFor } from '@haul/core/driver'
import { killChildren, spawnChild, sshfsAvailable, startOrigin, startSshfs, testBytes, type Origin, type SshfsExport } from '@haul/testkit'
import { lossBound, straceAvailable } from './crash-harness.js'
import { HAUL, haul } from './helpers.js'
import { describeEnd, killHolders, random, sha256File, watchDestination, type Runner } from './network-harness.js'

const MiB = 1024 * 1024
const SIZE = 32 * MiB
/** Per connection: a download takes about two seconds, long enough for the others to pile up. */
const RATE = 16 * MiB
const PROCESSES = 6
const HOSTS = 2

const available = sshfsAvailable()
const strace = straceAvailable()
const seed = Number(process.env.HAUL_NETFS_SEED ?? Date.now() % 1_000_000)
/** Rounds of the together test (alternately with and without --sha256); more, to hunt a rare race. */
const TOGETHER_ROUNDS = Math.max(1, Number(process.env.HAUL_NETFS_ROUNDS ?? 4))

let net: SshfsExport | undefined
let origin: Origin | undefined
const data = testBytes(SIZE, 161)
const digest = createHash('sha256').update(data).digest('hex')

/** The rounds' results, printed at the end for the record (rounds, exits, bytes served ÷ size). */
const table: string[] = []

interface RoundPlan {
  /** Holders SIGKILLed on each mount. */
  kills: number
  /** Whether the gets pass --sha256. */
  withDigest: boolean
}

interface RoundResult {
  name: string
  exits: string[]
  killed: number
  served: number
  startsPerHost: number[]
  violations: string[]
}

/** Every path under `root`, relative, sorted. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`
      out.push(path)
      if (entry.isDirectory()) await walk(path)
    }
  }
  await walk('')
  return out.sort()
}

describe.skipIf(!available.ok)(`haul get on a network folder (two sshfs mounts of one export)${available.ok ? '' : ` (skipped: ${available.reason})`}`, () => {
  beforeAll(async () => {
    net = await startSshfs({ mounts: HOSTS })
    origin = await startOrigin({ files: { '/f.bin': data }, rateBytesPerSecond: RATE, lifetimeMs: 900_000 })
  })
  afterEach(async () => {
    await killChildren()
  })
  afterAll(async () => {
    await killChildren()
    await origin?.close()
    await net?.close()
    if (table.length > 0) console.log(`network folder rounds (seed ${seed}):\n${table.join('\n')}`)
  })

  it("the premise: haul's lock excludes a second holder on one mount but not on the other; either may then tidy up first", async () => {
    await mkdir(join(net!.export, 'premise'))
    const [a, b] = net!.mounts.map((m) => lockPathFor(join(m, 'premise', 'f.bin')))
    const first = await acquireLock(a!, { noWait: true })
    try {
      await expect(acquireLock(a!, { noWait: true })).rejects.toMatchObject({ code: 'HAUL_LOCK_BUSY' })
      // On one host the same lock file would be HAUL_LOCK_BUSY; from the other mount it silently succeeds.
      const second = await acquireLock(b!, { noWait: true })
      // The other "host" removes the shared lock file first; our release must not trip over that.
      await second.release()
    } finally {
      await first.release()
    }
    expect(await readdir(join(net!.export, 'premise', '.f.bin.haul'))).toEqual([]) // the lock file is gone
    await rm(join(net!.export, 'premise'), { recursive: true, force: true })
  })

  it('says so: a notice event before the lock, and haul status names the filesystem and the host-local lock', async () => {
    await mkdir(join(net!.export, 'notice'))
    const output = join(net!.mounts[0]!, 'notice', 'f.bin')
    const child = haul(['get', origin!.url('/f.bin'), '-o', output, '--sha256', digest, '--json'], net!.mounts[0]!)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    const events = child.events.map((e) => e.event)
    expect(events[0]).toBe('notice')
    expect(events.at(-1)).toBe('done')
    expect(child.events[0]).toMatchObject({ event: 'notice', code: 'network-filesystem', path: join(net!.mounts[0]!, 'notice'), filesystem: 'fuse.sshfs' })
    const status = haul(['status', output, '--json'], net!.mounts[0]!)
    expect(await status.waitForExit()).toMatchObject({ code: 0 })
    expect(JSON.parse(status.stdout)).toMatchObject({ path: output, exists: true, filesystem: { name: 'fuse.sshfs', network: true, lock: 'host-local' }, staged: [] })
    const human = haul(['status', output], net!.mounts[0]!)
    expect(await human.waitForExit()).toMatchObject({ code: 0 })
    expect(human.stdout).toMatch(/on fuse\.sshfs, a network filesystem: haul's lock there may exclude only the processes on this host/)
    // A human sees it too, once, on stderr.
    const plain = haul(['get', origin!.url('/f.bin'), '-o', output, '--sha256', digest], net!.mounts[0]!)
    expect(await plain.waitForExit()).toMatchObject({ code: 0 })
    expect(plain.stderr.match(/Note: .* is on fuse\.sshfs, a network filesystem/g)).toHaveLength(1)
    // On a local folder, none of that.
    const local = haul(['status', join(net!.export, 'notice', 'f.bin'), '--json'], net!.export)
    expect(await local.waitForExit()).toMatchObject({ code: 0 })
    expect(JSON.parse(local.stdout).filesystem).toMatchObject({ network: false })
    await rm(join(net!.export, 'notice'), { recursive: true, force: true })
  })

  const runRound = async (name: string, plan: RoundPlan, rand: () => number): Promise<RoundResult> => {
    await mkdir(join(net!.export, name))
    const destinations = net!.mounts.map((m) => join(m, name, 'f.bin'))
    const before = origin!.bytesSent('/f.bin')
    const watcher = watchDestination([...destinations, join(net!.export, name, 'f.bin')], SIZE, digest)
    const runners: Runner[] = Array.from({ length: PROCESSES }, (_, i) => {
      const host = i % HOSTS
      const args = ['get', origin!.url('/f.bin'), '-o', destinations[host]!, '--json', ...(plan.withDigest ? ['--sha256', digest] : [])]
      return { child: haul(args, net!.mounts[host]!, { timeoutMs: 180_000 }), host, killed: false }
    })
    const kills = await Promise.all(net!.mounts.map((_, host) => killHolders(runners, host, plan.kills, SIZE, rand)))
    await Promise.all(runners.map((r) => r.child.waitForExit()))
    const watch = await watcher.stop()
    const violations = [...watch.violations]
    for (const [i, r] of runners.entries()) {
      const internal = r.child.events.find((e) => e.event === 'error' && e.code === 'HAUL_INTERNAL')
      if (internal !== undefined) violations.push(`process ${i} (host ${r.host + 1}): HAUL_INTERNAL ${String(internal.message)}`)
      if (!r.killed && r.child.exitStatus?.code !== 0) violations.push(`process ${i} (host ${r.host + 1}) exited ${describeEnd(r)}: ${r.child.stderr.trim().split('\n').at(-1) ?? ''}`)
    }
    const final = join(net!.export, name, 'f.bin')
    const actual = await sha256File(final).catch((err: Error) => `missing (${err.message})`)
    if (actual !== digest) violations.push(`the file at the path has sha256 ${actual}`)
    const beside = (await tree(join(net!.export, name))).filter((n) => n !== 'f.bin')
    if (beside.length > 0) violations.push(`left beside the file: ${beside.join(', ')}`)
    const served = (origin!.bytesSent('/f.bin') - before) / SIZE
    const startsPerHost = net!.mounts.map((_, host) => runners.filter((r) => r.host === host && r.child.events.some((e) => e.event === 'start')).length)
    const result: RoundResult = { name, exits: runners.map(describeEnd), killed: kills.reduce((s, k) => s + k, 0), served, startsPerHost, violations }
    table.push(
      `  ${name}: ${PROCESSES} processes, ${plan.withDigest ? 'with' : 'without'} --sha256, ${result.killed} killed; exits [${result.exits.join(', ')}]; ` +
        `served ${served.toFixed(2)}× the file; downloads started per host [${startsPerHost.join(', ')}]; watcher ${watch.looks} looks, ${watch.hashed} versions hashed; ` +
        `${violations.length === 0 ? 'ok' : `VIOLATIONS: ${violations.join(' | ')}`}`,
    )
    return result
  }

  it(`rounds of ${PROCESSES} gets, half on each mount, started together: every process exits 0, the file lands whole, nothing else is left, no partial is ever seen, one download per host`, async () => {
    const rand = random(seed)
    const plans: RoundPlan[] = Array.from({ length: TOGETHER_ROUNDS }, (_, i) => ({ kills: 0, withDigest: i % 2 === 0 }))
    const results: RoundResult[] = []
    for (const [i, plan] of plans.entries()) results.push(await runRound(`together-${i + 1}`, plan, rand))
    expect(results.map((r) => ({ round: r.name, violations: r.violations }))).toEqual(results.map((r) => ({ round: r.name, violations: [] })))
    // One download per host: the first process on each mount downloads, the others there wait
    // for it and take its commit (or the other host's, if that landed first). Bytes served
    // are body bytes: at most the file once per host.
    for (const r of results) {
      expect({ round: r.name, startsPerHost: r.startsPerHost }).toEqual({ round: r.name, startsPerHost: r.startsPerHost.map((n) => Math.min(n, 1)) })
      expect(r.served).toBeLessThanOrEqual(HOSTS)
      expect(r.served).toBeGreaterThanOrEqual(1)
    }
    console.log(`downloads started per host, by round: ${results.map((r) => `[${r.startsPerHost.join(', ')}]`).join(' ')}`)
  }, Math.max(600_000, TOGETHER_ROUNDS * 60_000))

  it('rounds with SIGKILLs of random lock holders on each mount: every other process exits 0, the file lands whole, nothing else is left, no partial is ever seen', async () => {
    const rand = random(seed + 1)
    const plans: RoundPlan[] = [
      { kills: 1, withDigest: true },
      { kills: 1, withDigest: false },
      { kills: 2, withDigest: true },
      { kills: 2, withDigest: false },
    ]
    const results: RoundResult[] = []
    for (const [i, plan] of plans.entries()) results.push(await runRound(`kills-${i + 1}`, plan, rand))
    expect(results.map((r) => ({ round: r.name, violations: r.violations }))).toEqual(results.map((r) => ({ round: r.name, violations: [] })))
    for (const r of results) {
      expect(r.killed).toBeGreaterThan(0)
      // A successor adopts the killed holder's partial: each kill costs at most the loss bound
      // of one connection (plus what was in flight), on top of one download per host.
      expect(r.served).toBeLessThanOrEqual(HOSTS + (r.killed * (lossBound(1) + 2 * MiB)) / SIZE)
    }
  }, 600_000)
  const blobFiles = ['blobs', 'blobs/sha256', `blobs/sha256/${digest}`]

  it(`the shared cache: ${PROCESSES} gets over two mounts into one cache folder on the network folder: no partial blob is ever visible, one download per host, cache verify is clean, nothing else is left`, async () => {
    const name = 'cache-together'
    await mkdir(join(net!.export, name))
    const caches = net!.mounts.map((m) => join(m, `${name}.cache`))
    const outputs = Array.from({ length: PROCESSES }, (_, i) => join(net!.mounts[i % HOSTS]!, name, `out-${i}.bin`))
    const before = origin!.bytesSent('/f.bin')
    const watcher = watchDestination([...caches.map((c) => join(c, 'blobs', 'sha256', digest)), join(net!.export, `${name}.cache`, 'blobs', 'sha256', digest)], SIZE, digest)
    const runners: Runner[] = outputs.map((output, i) => ({
      child: haul(['get', origin!.url('/f.bin'), '-o', output, '--sha256', digest, `--cache=${caches[i % HOSTS]!}`, '--json'], net!.mounts[i % HOSTS]!, { timeoutMs: 180_000 }),
      host: i % HOSTS,
      killed: false,
    }))
    await Promise.all(runners.map((r) => r.child.waitForExit()))
    const watch = await watcher.stop()
    const served = (origin!.bytesSent('/f.bin') - before) / SIZE
    const startsPerHost = net!.mounts.map((_, host) => runners.filter((r) => r.host === host && r.child.events.some((e) => e.event === 'start')).length)
    table.push(`  ${name}: ${PROCESSES} processes with --cache; exits [${runners.map(describeEnd).join(', ')}]; served ${served.toFixed(2)}× the file; downloads started per host [${startsPerHost.join(', ')}]; watcher ${watch.looks} looks, ${watch.hashed} versions hashed`)
    expect(runners.map(describeEnd).map((e) => e.replace(' (cached)', ''))).toEqual(Array(PROCESSES).fill('0'))
    expect(watch.violations).toEqual([])
    for (const output of outputs) expect(await sha256File(output)).toBe(digest)
    expect(served).toBeLessThanOrEqual(HOSTS)
    expect(startsPerHost.every((n) => n <= 1)).toBe(true)
    for (const cache of caches) {
      const verify = haul(['cache', 'verify', `--cache=${cache}`, '--json'], net!.export)
      expect(await verify.waitForExit()).toMatchObject({ code: 0 })
      expect(verify.events.at(-1)).toMatchObject({ checked: 1, corrupt: [] })
    }
    expect(await tree(join(net!.export, `${name}.cache`))).toEqual(blobFiles)
    expect(await tree(join(net!.export, name))).toEqual(outputs.map((_, i) => `out-${i}.bin`).sort())
  }, 300_000)

  it.skipIf(!strace.ok)(`the shared cache: gc on one mount does not remove a blob that a get on the other mount is linking${strace.ok ? '' : ` (skipped: ${strace.reason})`}`, async () => {
    const name = 'cache-gc'
    await mkdir(join(net!.export, name))
    const [cacheA, cacheB] = net!.mounts.map((m) => join(m, `${name}.cache`))
    const fill = haul(['get', origin!.url('/f.bin'), '-o', join(net!.mounts[0]!, name, 'first.bin'), '--sha256', digest, `--cache=${cacheA!}`, '--json'], net!.export)
    expect(await fill.waitForExit()).toMatchObject({ code: 0 })
    const before = origin!.bytesSent('/f.bin')
    // The get on mount 1 finds the blob and pauses for 2 s right before it links it (strace
    // delays that link; the mkdir of the output folder just before it is the cue).
    const outputDir = join(net!.mounts[0]!, name, 'linking')
    await mkdir(join(net!.export, name, 'linking'))
    const output = join(outputDir, 'out.bin')
    const linker = spawnChild(
      'strace',
      ['-f', '-qq', '-e', 'trace=mkdir,link,linkat', '-e', 'inject=link,linkat:delay_enter=2000000:when=1', '-o', '|cat', process.execPath, HAUL, 'get', origin!.url('/f.bin'), '-o', output, '--sha256', digest, `--cache=${cacheA!}`, '--json'],
      { env: { UV_THREADPOOL_SIZE: '1' }, timeoutMs: 120_000 },
    )
    await linker.waitForLine((line) => line.includes(`mkdir("${outputDir}"`))
    const gc = haul(['cache', 'gc', '--max-size', '0', `--cache=${cacheB!}`, '--json'], net!.export, { timeoutMs: 120_000 })
    expect(await gc.waitForExit()).toMatchObject({ code: 0 })
    expect(await linker.waitForExit()).toMatchObject({ code: 0 })
    expect(linker.events.at(-1)).toMatchObject({ event: 'done', path: output, sha256: digest })
    expect(await sha256File(output)).toBe(digest)
    // Nothing was fetched again: the linker never lost the blob it was linking…
    expect(origin!.bytesSent('/f.bin') - before).toBe(0)
    // …and the blob it was using is still in the cache, whole, and not reported as removed.
    const report = gc.events.at(-1) as { removed: Array<{ sha256: string }>; busy: Array<{ sha256: string }> }
    expect(report.removed.map((b) => b.sha256)).not.toContain(digest)
    expect(report.busy.map((b) => b.sha256)).toContain(digest) // taken back during its grace period
    expect(await sha256File(join(net!.export, `${name}.cache`, 'blobs', 'sha256', digest))).toBe(digest)
    const verify = haul(['cache', 'verify', `--cache=${cacheA!}`, '--json'], net!.export)
    expect(await verify.waitForExit()).toMatchObject({ code: 0 })
    expect(verify.events.at(-1)).toMatchObject({ checked: 1, corrupt: [] })
    expect(await tree(join(net!.export, `${name}.cache`))).toEqual(blobFiles)
    // Once nobody links it, gc does remove it (run where the take-back happened: the other
    // mount may list the folder from its cache for a second).
    const later = haul(['cache', 'gc', '--max-size', '0', `--cache=${cacheA!}`, '--json'], net!.export, { timeoutMs: 120_000 })
    expect(await later.waitForExit()).toMatchObject({ code: 0 })
    await expect(stat(join(net!.export, `${name}.cache`, 'blobs', 'sha256', digest))).rejects.toMatchObject({ code: 'ENOENT' })
  }, 300_000)

  it("a partial a writer on another host left: removed once nothing in it changed for the grace period, kept while it may still be written", async () => {
    const name = 'foreign'
    await mkdir(join(net!.export, name))
    // Writer folders named by a host that is not this one: whether that writer lives can't be
    // looked up from here. One has not changed for longer than the grace period, one just did.
    const plant = async (file: string, ageMs: number): Promise<string> => {
      const writer = join(net!.export, name, `.${file}.haul`, 'w.otherhost-0badf00d.4242.123456.0a0b0c0d')
      await mkdir(writer, { recursive: true })
      await writeFile(join(writer, 'journal'), 'a journal of another host\n')
      await writeFile(join(writer, 'data'), Buffer.alloc(MiB, 7))
      const then = new Date(Date.now() - ageMs)
      for (const path of [join(writer, 'journal'), join(writer, 'data'), writer]) await utimes(path, then, then)
      return writer
    }
    await plant('stale.bin', DEFAULT_FOREIGN_STAGE_GRACE_MS + 60_000)
    const fresh = await plant('fresh.bin', 0)
    for (const file of ['stale.bin', 'fresh.bin']) {
      const get = haul(['get', origin!.url('/f.bin'), '-o', join(net!.mounts[0]!, name, file), '--sha256', digest, '--json'], net!.mounts[0]!, { timeoutMs: 120_000 })
      expect(await get.waitForExit()).toMatchObject({ code: 0 })
    }
    const left = await tree(join(net!.export, name))
    // The stale partial went with its folder; the fresh one stays, with the lock file its writer may hold.
    expect(left.filter((p) => p.startsWith('.stale.bin.haul'))).toEqual([])
    expect(left).toEqual(expect.arrayContaining(['stale.bin', 'fresh.bin', '.fresh.bin.haul/lock', `.fresh.bin.haul/${basename(fresh)}/journal`, `.fresh.bin.haul/${basename(fresh)}/data`]))
    for (const file of ['stale.bin', 'fresh.bin']) expect(await sha256File(join(net!.export, name, file))).toBe(digest)
  }, 300_000)
})
