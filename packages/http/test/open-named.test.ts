import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closedPort } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { download } from '../src/download.js'
import { FIRST_ANSWER_MAX_BYTES } from '../src/first-answer.js'
import { openNamed } from '../src/suggest-file-name.js'
import { bytes, harness } from './helpers.js'

const MiB = 1024 * 1024
const h = harness()
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-named-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

describe('openNamed: the name from the download\'s own GET', () => {
  it('names the file from Content-Disposition, and the download reads that answer: one request in all', async () => {
    const data = bytes(300 * 1024)
    const origin = await h.origin({ files: { '/dl': { body: data, contentDisposition: 'attachment; filename="../model v2.onnx"' } } })
    const { name, answer } = await openNamed(origin.url('/dl'))
    expect(name).toBe('model v2.onnx')
    expect(answer?.pending).toBe(true)
    const result = await download(origin.url('/dl'), { output: join(dir, name), answer })
    expect(result.sha256).toBe(sha256(data))
    expect((await readFile(join(dir, name))).equals(data)).toBe(true)
    expect(origin.log.map((r) => [r.method, r.headers.range])).toEqual([['GET', undefined]])
    expect(answer?.pending).toBe(false)
  })

  it('only names a file bigger than FIRST_ANSWER_MAX_BYTES: its body is dropped and the download asks again', async () => {
    const data = bytes(FIRST_ANSWER_MAX_BYTES + MiB)
    const origin = await h.origin({ files: { '/big.bin': data } })
    const { name, answer } = await openNamed(origin.url('/big.bin'))
    expect([name, answer]).toEqual(['big.bin', undefined])
    const result = await download(origin.url('/big.bin'), { output: join(dir, name) })
    expect(result.sha256).toBe(sha256(data))
    expect(origin.log.map((r) => r.method)).toEqual(['GET', 'GET'])
    // The dropped answer was cut off, not read to its end.
    expect(origin.log[0]!.bytesSent).toBeLessThan(data.length)
  })

  it('leaves the name to the URL when the GET fails; the download then asks and reports why', async () => {
    const origin = await h.origin({ files: {} })
    const { name, answer } = await openNamed(origin.url('/x/data.csv'))
    expect([name, answer]).toEqual(['data.csv', undefined])
    await expect(download(origin.url('/x/data.csv'), { output: join(dir, name), retries: 0 })).rejects.toMatchObject({ code: 'HAUL_SOURCE', status: 404 })
    expect(await openNamed(`http://127.0.0.1:${await closedPort()}/y/z.bin`)).toEqual({ name: 'z.bin', answer: undefined })
  })

  it('refuses an HTML answer for a name without an extension (HAUL_USAGE), its answer closed', async () => {
    const origin = await h.origin({ files: { '/pub': { body: '<html></html>', contentType: 'text/html' } } })
    const err = await openNamed(origin.url('/pub')).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_USAGE' })
    expect(String(err)).toContain('-o NAME')
  })

  it('drops the answer for a resume: the staged bytes are kept and only the rest is asked for', async () => {
    const data = bytes(4 * MiB)
    const origin = await h.origin({ files: { '/f.bin': data }, fault: ({ n }) => (n === 1 ? { stallAfter: 2 * MiB } : undefined) })
    const output = join(dir, 'f.bin')
    await expect(download(origin.url('/f.bin'), { output, stallTimeoutMs: 500, retries: 0 })).rejects.toMatchObject({ code: 'HAUL_SOURCE' })
    const { answer } = await openNamed(origin.url('/f.bin'))
    expect(answer?.pending).toBe(true)
    const result = await download(origin.url('/f.bin'), { output, answer })
    expect(result.sha256).toBe(sha256(data))
    expect(result.resumedFrom).toBeGreaterThan(MiB)
    expect(origin.log.map((r) => [r.method, r.headers.range === undefined ? 'whole' : 'range'])).toEqual([
      ['GET', 'whole'],
      ['GET', 'whole'],
      ['GET', 'range'],
    ])
    expect(await readdir(dir)).toEqual(['f.bin'])
  })

  it('sends no request at all for a file already there: the answer is dropped unread', async () => {
    const data = bytes(64 * 1024)
    const origin = await h.origin({ files: { '/f.bin': data } })
    const output = join(dir, 'f.bin')
    await download(origin.url('/f.bin'), { output, sha256: sha256(data) })
    const { answer } = await openNamed(origin.url('/f.bin'))
    const again = await download(origin.url('/f.bin'), { output, sha256: sha256(data), answer })
    expect(again.cached).toBe(true)
    expect(answer?.pending).toBe(false)
    expect(origin.log.map((r) => r.method)).toEqual(['GET', 'GET'])
  })

  it('drops the answer as soon as the download waits for another holder of the lock, who then hands the file over', async () => {
    const data = bytes(MiB)
    // The first download is paced (about 0.5 s), so the second finds the lock held.
    const origin = await h.origin({ files: { '/f.bin': data }, fault: ({ n }) => (n === 1 ? { rateBytesPerSecond: 2 * MiB } : undefined) })
    const output = join(dir, 'f.bin')
    let started = (): void => undefined
    const receiving = new Promise<void>((resolve) => (started = resolve))
    const first = download(origin.url('/f.bin'), { output, onEvent: (e) => e.event === 'progress' && started() })
    await receiving
    const { answer } = await openNamed(origin.url('/f.bin'))
    let pendingAtWait: boolean | undefined
    const second = await download(origin.url('/f.bin'), {
      output,
      answer,
      onEvent: (e) => {
        if (e.event === 'wait') queueMicrotask(() => (pendingAtWait = answer?.pending))
      },
    })
    await first
    expect(pendingAtWait).toBe(false)
    expect(second).toMatchObject({ cached: true, sha256: sha256(data) })
    expect(origin.log.map((r) => r.method)).toEqual(['GET', 'GET'])
  })

  it('an abort while the answer waits ends the download with HAUL_ABORTED and leaves nothing', async () => {
    const origin = await h.origin({ files: { '/f.bin': bytes(MiB) } })
    const { answer } = await openNamed(origin.url('/f.bin'))
    const stop = new AbortController()
    stop.abort()
    await expect(download(origin.url('/f.bin'), { output: join(dir, 'f.bin'), answer, signal: stop.signal })).rejects.toMatchObject({ code: 'HAUL_ABORTED' })
    expect(answer?.pending).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })
})
