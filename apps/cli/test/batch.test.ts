import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killChildren, startOrigin, type ChildEvent, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-batch-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

interface Summary {
  event: 'summary'
  files: number
  landed: number
  notStarted: number
  failed: Array<{ source: string; file?: string; line?: number; code: string; message: string }>
  exitCode: number
}

describe('haul get -i (batch)', () => {
  it('50 lines, 4 bad (404, digest mismatch, malformed URL, unknown option): 46 land, the summary names the 4, exit 4', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 47; i++) files[`/f${i}`] = testBytes(20_000 + i * 1_000, i + 1)
    origin = await startOrigin({ files })
    const lines = ['# fifty files, four of them bad', '']
    for (let i = 0; i < 46; i++) {
      lines.push(origin.url(`/f${i}`), `  out=f${i}.bin`)
      if (i % 2 === 0) lines.push(`  sha256=${sha256(files[`/f${i}`]!)}`)
      if (i === 10) lines.push('  # a comment inside an entry', '')
    }
    lines.push(origin.url('/missing'), '  out=missing.bin') // 404
    lines.push(origin.url('/f46'), '  out=mismatch.bin', `  sha256=${'b'.repeat(64)}`) // integrity
    lines.push('http://[bad', '  out=malformed.bin') // malformed URL
    lines.push(origin.url('/f0'), '  out=unknown.bin', '  colour=blue') // unknown option
    const badLine = (text: string): number => lines.lastIndexOf(text) + 1
    await writeFile(join(dir, 'list.txt'), `${lines.join('\n')}\n`)

    const child = haul(['get', '-i', 'list.txt', '-d', 'out', '-j', '4', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 4 })
    const summary = child.events.at(-1) as unknown as Summary
    expect(summary).toMatchObject({ event: 'summary', files: 50, landed: 46, notStarted: 0, exitCode: 4 })
    const failed = [...summary.failed].sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    expect(failed).toEqual([
      { source: origin.url('/missing'), file: join(dir, 'out', 'missing.bin'), line: badLine(origin.url('/missing')), code: 'HAUL_SOURCE', message: expect.stringMatching(/404/) },
      { source: origin.url('/f46'), file: join(dir, 'out', 'mismatch.bin'), line: badLine(origin.url('/f46')), code: 'HAUL_INTEGRITY', message: expect.stringMatching(/do not match/) },
      { source: 'http://[bad', file: join(dir, 'out', 'malformed.bin'), line: badLine('http://[bad'), code: 'HAUL_USAGE', message: expect.stringMatching(/not a valid URL/) },
      { source: origin.url('/f0'), file: join(dir, 'out', 'unknown.bin'), line: badLine(origin.url('/f0')), code: 'HAUL_USAGE', message: expect.stringMatching(/unknown option "colour"/) },
    ])
    for (let i = 0; i < 46; i++) expect(sha256(await readFile(join(dir, 'out', `f${i}.bin`)))).toBe(sha256(files[`/f${i}`]!))
    // Only the landed files: no staging, no partials, nothing for the failed lines.
    expect((await readdir(join(dir, 'out'))).sort()).toEqual(Array.from({ length: 46 }, (_, i) => `f${i}.bin`).sort())
    // Every event but the summary says which file it is about.
    for (const e of child.events.slice(0, -1)) expect(e).toMatchObject({ source: expect.any(String), line: expect.any(Number) })
    for (const e of child.events.filter((e) => e.event === 'done')) expect(e.file).toBe(e.path)
    // Never more than -j files at once.
    const active = new Set<unknown>()
    let most = 0
    for (const e of child.events) {
      if (e.event === 'start') active.add(e.file)
      if (e.event === 'done' || e.event === 'error') active.delete(e.file)
      most = Math.max(most, active.size)
    }
    expect(most).toBeLessThanOrEqual(4)
    expect(most).toBeGreaterThan(1)
    // The 404, the malformed URL and the unknown option never cost more than one request each.
    expect(origin.log.filter((r) => r.path === '/missing').length).toBeLessThanOrEqual(2) // HEAD probe is skipped: out= given
  })

  it('people get a summary naming each failure by line, source and output; a usage-only failure exits 2', async () => {
    origin = await startOrigin({ files: { '/a': 'aaa', '/b': 'bbb' } })
    const list = ['  out=orphan.bin', origin.url('/a'), '  out=a.txt', origin.url('/b'), '  gateway=http://127.0.0.1:1/', ''].join('\n')
    const child = haul(['get', '-i', '-'], dir)
    child.send(list)
    child.closeStdin()
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('aaa')
    expect(child.stderr).toMatch(/1 of 3 files landed; 2 failed/)
    expect(child.stderr).toMatch(/line 1: .*option line .*before any SOURCE/)
    expect(child.stderr).toContain(`line 4: ${origin.url('/b')}`)
    expect(child.stderr).toMatch(/--gateway is for IPFS/)
    expect(child.stderr).toMatch(/exit 2/)
  })

  it('several SOURCEs on the command line with -d; -o is refused with several', async () => {
    origin = await startOrigin({ files: { '/x.bin': 'x', '/y.bin': 'y' } })
    const child = haul(['get', origin.url('/x.bin'), origin.url('/y.bin'), '-d', 'dl', '-q'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect((await readdir(join(dir, 'dl'))).sort()).toEqual(['x.bin', 'y.bin'])
    const refused = haul(['get', origin.url('/x.bin'), origin.url('/y.bin'), '-o', 'one'], dir)
    expect(await refused.waitForExit()).toMatchObject({ code: 2 })
    expect(refused.stderr).toMatch(/-d DIR/)
  })

  it('names files from the answers to their own GETs: one request per file, Content-Disposition honoured, a clash of names refused', async () => {
    const files: Record<string, Buffer | { body: Buffer; contentDisposition: string }> = {}
    for (let i = 0; i < 12; i++) files[`/d/f${i}.bin`] = testBytes(10_000 + i, i + 1)
    files['/d/download'] = { body: testBytes(5_000, 99), contentDisposition: 'attachment; filename="report.pdf"' }
    files['/e/f3.bin'] = testBytes(100, 98)
    origin = await startOrigin({ files })
    const urls = [...Object.keys(files)].map((p) => origin!.url(p))
    await writeFile(join(dir, 'l'), `${urls.join('\n')}\n`)
    const child = haul(['get', '-i', 'l', '-d', 'out', '-j', '4', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    const names = (await readdir(join(dir, 'out'))).sort()
    expect(names).toEqual([...Array.from({ length: 12 }, (_, i) => `f${i}.bin`), 'report.pdf'].sort())
    expect(await readFile(join(dir, 'out', 'report.pdf'))).toEqual(testBytes(5_000, 99))
    expect(await readFile(join(dir, 'out', 'f3.bin'))).toEqual(testBytes(10_003, 4))
    // 14 files, 14 GETs: no HEAD, and no second GET for any file.
    expect(origin.log.map((r) => r.method)).toEqual(Array(14).fill('GET'))
    expect((child.events.at(-1) as unknown as Summary).failed).toEqual([expect.objectContaining({ source: origin.url('/e/f3.bin'), code: 'HAUL_USAGE', message: expect.stringMatching(/also the output of/) })])
  })

  it('two lines with the same output: the second fails as usage, the first lands', async () => {
    origin = await startOrigin({ files: { '/a': 'a', '/b': 'b' } })
    await writeFile(join(dir, 'l'), `${origin.url('/a')}\n out=same\n${origin.url('/b')}\n out=same\n`)
    const child = haul(['get', '-i', 'l', '-j', '1', '--json'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 2 })
    expect(await readFile(join(dir, 'same'), 'utf8')).toBe('a')
    expect((child.events.at(-1) as unknown as Summary).failed).toEqual([expect.objectContaining({ line: 3, code: 'HAUL_USAGE', message: expect.stringMatching(/also the output of line 1/) })])
  })

  it('-x per file within --max-connections for all: the connections in use never exceed the cap', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 6; i++) files[`/f${i}`] = testBytes(6 * MiB, i + 100)
    // Paced so that each file takes several progress events: the sum over files is sampled there.
    origin = await startOrigin({ files, rateBytesPerSecond: 3 * MiB })
    const args = ['get', ...Object.keys(files).map((p) => origin!.url(p)), '-j', '4', '-x', '4', '--max-connections', '6', '--json']
    const child = haul(args, dir)
    expect(await child.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    const connections = new Map<string, number>()
    let most = 0
    for (const e of child.events as ChildEvent[]) {
      if (e.event === 'progress') connections.set(e.file as string, e.connections as number)
      if (e.event === 'done') connections.delete(e.file as string)
      most = Math.max(most, [...connections.values()].reduce((a, b) => a + b, 0))
    }
    expect(most).toBeLessThanOrEqual(6)
    expect(most).toBeGreaterThan(4) // one file alone never had more than 4: segments of several files ran at once
    // Ranged GETs overlap at the origin; every byte still came once (give or take re-splits).
    for (const [path, data] of Object.entries(files)) {
      expect(sha256(await readFile(join(dir, path.slice(1))))).toBe(sha256(data))
      expect(origin.bytesSent(path)).toBeLessThanOrEqual(data.length * 1.2)
    }
  })

  it('SIGINT stops the batch with 130, keeps partials, and the next run resumes them', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 4; i++) files[`/f${i}`] = testBytes(8 * MiB, i + 200)
    origin = await startOrigin({ files, rateBytesPerSecond: 8 * MiB })
    const urls = Object.keys(files).map((p) => origin!.url(p))
    const first = haul(['get', ...urls, '-j', '2', '--json'], dir)
    await first.waitForEvent((e) => e.event === 'progress' && (e.bytes as number) >= 2 * MiB, { timeoutMs: 30_000 })
    first.signal('SIGINT')
    expect(await first.waitForExit()).toMatchObject({ code: 130 })
    expect(first.events.at(-1)).toMatchObject({ event: 'summary', exitCode: 130, notStarted: 2 })
    origin.setFault(undefined)
    const second = haul(['get', ...urls, '-j', '4', '--json'], dir)
    expect(await second.waitForExit({ timeoutMs: 60_000 })).toMatchObject({ code: 0 })
    expect(second.events.filter((e) => e.event === 'start' && (e.resumedFrom as number) > 0).length).toBeGreaterThanOrEqual(1)
    let total = 0
    for (const [path, data] of Object.entries(files)) {
      expect(sha256(await readFile(join(dir, path.slice(1))))).toBe(sha256(data))
      total += data.length
    }
    expect(origin.bytesSent()).toBeLessThanOrEqual(total * 1.25)
  })
})
