import { isHaulError } from '@haul/core'
import { closedPort } from '@haul/testkit'
import { describe, expect, it } from 'vitest'
import { bytes, collect, deadline, harness } from './helpers.js'

const data = bytes(512 * 1024)
const h = harness()

describe('HttpSource errors', () => {
  it.each([404, 410, 403, 401])('maps %i to a permanent HAUL_SOURCE that names the status and URL', async (status) => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ status }) })
    const url = origin.url('/f')
    const err = await h.source(url).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE')).toBe(true)
    expect(err).toMatchObject({ status, transient: false, source: url })
    expect(String(err)).toContain(`${status} `)
    expect(String(err)).toContain(url)
  })

  it('says to check the URL for a 404', async () => {
    const origin = await h.origin({})
    const err = await h.source(origin.url('/nope')).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(String(err)).toMatch(/404 Not Found from .*\/nope: check the URL/)
  })

  it.each([
    [503, '1', 1000],
    [429, '7', 7000],
    [500, undefined, undefined],
    [408, undefined, undefined],
  ])('maps %i (Retry-After %s) to a transient HAUL_SOURCE with retryAfterMs', async (status, retryAfter, retryAfterMs) => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ status, ...(retryAfter === undefined ? {} : { retryAfter }) }) })
    const err = await h.source(origin.url('/f')).read({ offset: 10, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE')).toBe(true)
    expect(err).toMatchObject({ status, transient: true })
    expect(isHaulError(err) && err.retryAfterMs).toBe(retryAfterMs)
  })

  it('maps 501 to permanent: it will not change on a retry', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ status: 501 }) })
    const err = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_SOURCE', status: 501, transient: false })
  })

  it('maps ECONNREFUSED to a transient HAUL_SOURCE', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/f`
    const err = await h.source(url).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE')).toBe(true)
    expect(err).toMatchObject({ transient: true, source: url })
    expect(String(err)).toMatch(/ECONNREFUSED/)
  })

  it('wraps a connection dropped mid-body as a transient HAUL_SOURCE from the body iterator', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ dropAfter: 100_000 }) })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    let received = 0
    const err = await (async () => {
      for await (const chunk of res.body) received += chunk.length
    })().catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient).toBe(true)
    expect(received).toBe(100_000)
  })

  it('fails a body that ends short of its Content-Length', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ contentLength: data.length + 10 }) })
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: deadline() })
    const err = await collect(res).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient).toBe(true)
  })

  it('turns an abort during the body into the abort reason, not a network error', async () => {
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ stallAfter: 1000 }) })
    const controller = new AbortController()
    const res = await h.source(origin.url('/f')).read({ offset: 0, signal: controller.signal })
    const iterator = res.body[Symbol.asyncIterator]()
    await iterator.next()
    controller.abort(new Error('user pressed Ctrl-C'))
    const err = await iterator.next().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_ABORTED' })
    expect(String(err)).toMatch(/Ctrl-C/)
  })

  it('hands core its own HaulError abort reason back unchanged (stall)', async () => {
    const { HaulError } = await import('@haul/core')
    const origin = await h.origin({ files: { '/f': data }, fault: () => ({ stallAfter: 0 }) })
    const controller = new AbortController()
    const stall = new HaulError('HAUL_SOURCE', 'stalled', { transient: true })
    const pending = h.source(origin.url('/f')).read({ offset: 0, signal: controller.signal }).then((r) => collect(r))
    await expect.poll(() => origin.requests).toBe(1)
    controller.abort(stall)
    await expect(pending).rejects.toBe(stall)
  })
})
