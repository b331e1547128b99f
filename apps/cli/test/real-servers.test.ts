import { createHash } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { performance } from 'node:perf_hooks'
import { join } from 'node:path'
import { killChildren, peerMissing, startPeer, testBytes, type ChildEvent, type Peer, type PeerKind, type SpawnedChild } from '@haul/testkit'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { haul } from './helpers.js'

// haul against the servers people actually download from — Debian's nginx, Apache, lighttpd
// (with and without validators), caddy, and python's http.server — started by the test on
// 127.0.0.1 with configs it writes. Our testkit origin scripts faults; these show how the world
// answers: which validators, when they are weak, what a refused If-Range looks like.

const MiB = 1024 * 1024
/** The file every case downloads. */
const SIZE = 16 * MiB
/** The proxy's pace while a run is to be killed part-way: a kill lands at a known byte. */
const RATE = 8 * MiB
/** Runs are killed once haul reports this much. */
const KILL_AT = Math.floor(SIZE * 0.4)
/**
 * What one SIGKILL may cost: the journal is written by time as well as bytes, so at most about a
 * quarter second of transfer or 1 MiB, whichever is more, plus the bytes in flight to the socket.
 */
const KILL_LOSS_BYTES = Math.max(1 * MiB, RATE / 4) + 512 * 1024
/** Response headers on the wire, per request, with room to spare. */
const HEADER_BYTES = 1024
/** A file that has sat on the server a while (its validators are strong, its date If-Range-able). */
const LONG_AGO = new Date(Date.now() - 3600_000)

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

interface PeerCase {
  kind: PeerKind
  /** The server identifies each version of a file (a strong ETag, or Last-Modified + size). */
  validators: boolean
  /** The server answers byte ranges. */
  ranges: boolean
}

const PEERS: PeerCase[] = [
  { kind: 'nginx', validators: true, ranges: true },
  { kind: 'apache', validators: true, ranges: true },
  { kind: 'lighttpd', validators: true, ranges: true },
  { kind: 'lighttpd-minimal', validators: false, ranges: true },
  { kind: 'caddy', validators: true, ranges: true },
  { kind: 'python-http', validators: true, ranges: false },
]

/** One row of the table the issue asks for: server × case → bytes fetched and result. */
interface Row {
  server: PeerKind
  case: string
  /** Bytes on the wire over every run of the case. */
  fetched: number
  /** Of those, bytes beyond what the case had to fetch at least. */
  refetched: number
  result: string
}
const rows: Row[] = []
afterAll(() => {
  // HAUL_REAL_SERVERS_TABLE=path writes the table (markdown) for a report.
  const path = process.env.HAUL_REAL_SERVERS_TABLE
  if (path === undefined || rows.length === 0) return
  const lines = ['| server | case | fetched | re-fetched | result |', '|---|---|---|---|---|']
  for (const r of rows) lines.push(`| ${r.server} | ${r.case} | ${(r.fetched / MiB).toFixed(2)} MiB | ${(r.refetched / MiB).toFixed(2)} MiB | ${r.result} |`)
  writeFileSync(path, `${lines.join('\n')}\n`)
})

interface Run {
  exit: Awaited<ReturnType<SpawnedChild['waitForExit']>>
  events: ChildEvent[]
  /** Bytes the server sent during the run. */
  bytes: number
}

const startOf = (run: Run): { resumedFrom: number; total?: number } => run.events.find((e) => e.event === 'start') as { resumedFrom: number; total?: number }
const restarted = (run: Run): boolean => run.events.some((e) => e.event === 'restart')
const doneOf = (run: Run): ChildEvent | undefined => run.events.find((e) => e.event === 'done')

for (const { kind, validators, ranges } of PEERS) {
  const missing = peerMissing(kind)
  /** Staged bytes can be kept across runs without a digest: validators prove them, ranges resume them. */
  const resumes = validators && ranges

  describe.skipIf(missing !== undefined)(`haul get against ${kind}${missing === undefined ? '' : ` (skipped: ${missing})`}`, () => {
    let peer: Peer
    let dir: string
    /** The served file's path: a new name for every case, so no server cache (lighttpd's stat cache keeps an ETag a second or two) remembers an earlier case's file. */
    let path: string
    let cases = 0
    const data = testBytes(SIZE, 11)
    const other = testBytes(SIZE, 12)

    beforeAll(async () => {
      peer = await startPeer(kind)
    })
    afterAll(async () => {
      await peer?.stop()
    })
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), `haul-real-${kind}-`))
      path = `/f${++cases}.bin`
      await peer.docroot.put(path.slice(1), data, { mtime: LONG_AGO })
      peer.proxy.setRate(RATE)
    })
    afterEach(async () => {
      await killChildren()
      await rm(dir, { recursive: true, force: true })
    })

    async function run(args: string[]): Promise<Run> {
      const mark = peer.proxy.mark()
      const child = haul(['get', ...args, '--json'], dir)
      const exit = await child.waitForExit()
      return { exit, events: child.events, bytes: peer.proxy.since(mark).bytes }
    }

    /** Starts a run, SIGKILLs it once it reports {@link KILL_AT} bytes. */
    async function killedRun(args: string[]): Promise<Run> {
      const mark = peer.proxy.mark()
      const child = haul(['get', ...args, '--json'], dir)
      await child.waitForEvent((e) => e.event === 'progress' && (e.bytes as number) >= KILL_AT, { timeoutMs: 30_000 })
      child.signal('SIGKILL')
      const exit = await child.waitForExit()
      return { exit, events: child.events, bytes: peer.proxy.since(mark).bytes }
    }

    async function expectFile(bytes: Buffer, run: Run): Promise<void> {
      expect(run.exit, `${kind}: ${JSON.stringify(run.events.at(-1))}`).toEqual({ code: 0, signal: null })
      expect(doneOf(run)).toMatchObject({ bytes: bytes.length, sha256: sha256(bytes) })
      expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(bytes))
      expect(await readdir(dir)).toEqual(['f.bin'])
    }

    /**
     * A run killed part-way, then `between` (a change on the server), then a second run to the
     * end, which must land `expected`; the table gets a row. Returns the staged bytes the second
     * run kept (0 when it started over).
     */
    async function killThenRun(name: string, first: string[], second: string[], expected: Buffer, between?: () => Promise<void>): Promise<{ killed: Run; resumed: Run; kept: number }> {
      const killed = await killedRun([...first, '-o', 'f.bin'])
      await between?.()
      const resumed = await run([...second, '-o', 'f.bin'])
      const kept = restarted(resumed) ? 0 : startOf(resumed).resumedFrom
      const spliced = resumed.exit.code === 0 && doneOf(resumed)?.sha256 !== sha256(expected)
      const fetched = killed.bytes + resumed.bytes
      // Re-fetched: beyond one copy of the file, or of the new one when it changed.
      const refetched = between === undefined ? fetched - SIZE : resumed.bytes - SIZE
      const outcome = spliced ? 'SPLICE committed' : resumed.exit.code === 0 ? 'ok' : `exit ${resumed.exit.code}`
      rows.push({ server: kind, case: name, fetched, refetched, result: `${outcome}, kept ${(kept / MiB).toFixed(2)} MiB${restarted(resumed) ? ', restart event' : ''}` })
      await expectFile(expected, resumed)
      return { killed, resumed, kept }
    }

    /** The second run kept what the first staged, less what a kill may cost, and fetched only the rest. */
    function expectKept({ killed, resumed, kept }: { killed: Run; resumed: Run; kept: number }): void {
      expect(kept).toBeGreaterThan(0)
      expect(killed.bytes - kept).toBeLessThanOrEqual(KILL_LOSS_BYTES)
      expect(resumed.bytes).toBeLessThanOrEqual(SIZE - kept + 4 * HEADER_BYTES)
    }

    it('plain get: the file whole, once, with its total on start', async () => {
      peer.proxy.setRate(undefined)
      const got = await run([peer.url(path), '-o', 'f.bin'])
      rows.push({ server: kind, case: 'plain get', fetched: got.bytes, refetched: got.bytes - SIZE, result: got.exit.code === 0 ? 'ok' : `exit ${got.exit.code}` })
      await expectFile(data, got)
      expect(startOf(got)).toMatchObject({ resumedFrom: 0, total: SIZE })
      expect(got.bytes).toBeLessThanOrEqual(SIZE + HEADER_BYTES)
    })

    it(
      resumes ? 'SIGKILL mid-way, run again: resumes, losing at most a quarter second or 1 MiB' : 'SIGKILL mid-way, run again: starts over (nothing proves the staged bytes are this file), and says so',
      async () => {
        const url = peer.url(path)
        const got = await killThenRun('SIGKILL at 40%, resume', [url], [url], data)
        if (resumes) expectKept(got)
        else {
          expect(got.kept).toBe(0)
          expect(restarted(got.resumed)).toBe(true)
          expect(got.resumed.bytes).toBeGreaterThanOrEqual(SIZE)
        }
      },
    )

    it('the file replaced mid-way, run again: exactly the new file, never a splice; the events say it started over', async () => {
      const url = peer.url(path)
      const { resumed } = await killThenRun('replaced mid-way, resume', [url], [url], other, async () => {
        await peer.docroot.put(path.slice(1), other)
        await peer.waitServes(path, other.subarray(0, 4096))
      })
      // Staged bytes announced on start and then dropped must be announced as dropped.
      expect(startOf(resumed).resumedFrom === 0 || restarted(resumed)).toBe(true)
    })

    it('-x 4 right after a replace: the new file, no internal error, no burst of zero-delay retries', async () => {
      peer.proxy.setRate(undefined)
      await peer.docroot.put(path.slice(1), other)
      const got = await run([peer.url(path), '-o', 'f.bin', '-x', '4'])
      rows.push({ server: kind, case: '-x 4 right after a replace', fetched: got.bytes, refetched: got.bytes - SIZE, result: got.exit.code === 0 ? 'ok' : `exit ${got.exit.code} ${String(got.events.at(-1)?.code)}` })
      await expectFile(other, got)
      const quickRetries = got.events.filter((e) => e.event === 'retry' && e.delayMs === 0)
      expect(quickRetries.length).toBeLessThanOrEqual(1)
      expect(got.bytes).toBeLessThanOrEqual(2 * SIZE)
    })

    it(
      resumes ? 'a new query string on the second run (a fresh signed link): the staged bytes are kept' : 'a new query string on the second run: the file, whole and right',
      async () => {
        const got = await killThenRun('query changed between runs', [peer.url(`${path}?X-Sig=first`)], [peer.url(`${path}?X-Sig=second`)], data)
        if (resumes) expectKept(got)
      },
    )

    it(
      ranges ? '--sha256 added on the second run: the staged bytes are kept and checked against it' : '--sha256 added on the second run: the file, whole and right',
      async () => {
        const url = peer.url(path)
        const got = await killThenRun('digest added on 2nd run', [url], [url, '--sha256', sha256(data)], data)
        // A digest the commit enforces vouches for the bytes even where the server has no validators.
        if (ranges) expectKept(got)
      },
    )
  })
}

describe.skipIf(peerMissing('nginx') !== undefined)(`a kill storm against nginx${peerMissing('nginx') === undefined ? '' : ` (skipped: ${peerMissing('nginx')})`}`, () => {
  const STORM_SIZE = 24 * MiB
  const STORM_RATE = 12 * MiB
  const MAX_KILLS = 60
  let peer: Peer
  let dir: string
  beforeAll(async () => {
    peer = await startPeer('nginx', { rateBytesPerSecond: STORM_RATE })
    dir = await mkdtemp(join(tmpdir(), 'haul-storm-'))
  })
  afterAll(async () => {
    await killChildren()
    await peer?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it(`60 SIGKILLs at random moments 60–460 ms after start: ${STORM_SIZE / MiB} MiB at ${STORM_RATE / MiB} MiB/s completes, fetching at most 1.35× the file`, { timeout: 180_000 }, async () => {
    const data = testBytes(STORM_SIZE, 21)
    await peer.docroot.put('f.bin', data, { mtime: LONG_AGO })
    // A fixed seed, so a failing storm can be told apart from an unlucky one by its kill times.
    let seed = 0x9e3779b9
    const random = (): number => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) / 2 ** 32
    }
    const mark = peer.proxy.mark()
    const firstRequestMs: number[] = []
    let kills = 0
    let finished: Run | undefined
    while (finished === undefined && kills < MAX_KILLS) {
      const before = peer.proxy.mark()
      const started = performance.now()
      const child = haul(['get', peer.url('/f.bin'), '-o', 'f.bin', '--json'], dir)
      const killAt = 60 + random() * 400
      const ended = await Promise.race([child.waitForExit(), new Promise<'kill'>((resolve) => setTimeout(() => resolve('kill'), killAt - (performance.now() - started)))])
      if (ended === 'kill' && child.signal('SIGKILL')) kills++
      const exit = await child.waitForExit()
      const first = peer.proxy.since(before).requests[0]
      if (first !== undefined) firstRequestMs.push(first.at - started)
      if (exit.signal === null) finished = { exit, events: child.events, bytes: 0 }
      // Killed after its commit (while it released the lock or exited): the download is done. A
      // run after that would fetch the file anew, as after any finished download.
      else if (existsSync(join(dir, 'f.bin'))) finished = { exit: { code: 0, signal: null }, events: child.events, bytes: 0 }
    }
    // Not killed: the run that completes it, if the storm did not.
    finished ??= await (async () => {
      const child = haul(['get', peer.url('/f.bin'), '-o', 'f.bin', '--json'], dir)
      return { exit: await child.waitForExit(), events: child.events, bytes: 0 }
    })()
    const fetched = peer.proxy.since(mark).bytes
    firstRequestMs.sort((a, b) => a - b)
    const median = firstRequestMs[Math.floor(firstRequestMs.length / 2)] ?? Number.NaN
    rows.push({ server: 'nginx', case: `kill storm: ${kills} kills, first request after ${median.toFixed(0)} ms (median)`, fetched, refetched: fetched - STORM_SIZE, result: `${finished.exit.code === 0 ? 'ok' : `exit ${finished.exit.code}`}, ${(fetched / STORM_SIZE).toFixed(2)}× the file` })
    expect(finished.exit).toEqual({ code: 0, signal: null })
    expect(kills, `the storm ended before the download did (start to first request: median ${median.toFixed(0)} ms over ${firstRequestMs.length} runs that got that far)`).toBeLessThan(MAX_KILLS)
    expect(sha256(await readFile(join(dir, 'f.bin')))).toBe(sha256(data))
    expect(fetched / STORM_SIZE).toBeLessThanOrEqual(1.35)
  })
})
