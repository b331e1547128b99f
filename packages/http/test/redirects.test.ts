import { isHaulError } from '@haul/core'
import { MockAgent } from 'undici'
import { describe, expect, it } from 'vitest'
import { bytes, collect, deadline, harness } from './helpers.js'

const data = bytes(64 * 1024)
const h = harness()

describe('redirects', () => {
  it.each([301, 302, 303, 307, 308] as const)('follows %i and reads the target', async (status) => {
    const origin = await h.origin({ files: { '/real': data }, redirects: { '/f': { location: '/real', status } } })
    const res = await h.source(origin.url('/f')).read({ offset: 10, signal: deadline() })
    expect(res.offset).toBe(10)
    expect((await collect(res)).equals(data.subarray(10))).toBe(true)
    expect(origin.log.map((r) => [r.path, r.headers.range])).toEqual([
      ['/f', 'bytes=10-'],
      ['/real', 'bytes=10-'],
    ])
  })

  it('follows up to maxRedirects and fails beyond, permanently', async () => {
    const redirects = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`/r${i}`, { location: `/r${i + 1}` }]))
    const origin = await h.origin({ files: { '/r4': data }, redirects })
    expect((await collect(await h.source(origin.url('/r0'), { maxRedirects: 4 }).read({ offset: 0, signal: deadline() }))).length).toBe(data.length)
    const err = await h.source(origin.url('/r0'), { maxRedirects: 3 }).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient === false).toBe(true)
    expect(String(err)).toMatch(/More than 3 redirects/)
  })

  it('fails a redirect loop at once, permanently', async () => {
    const origin = await h.origin({ redirects: { '/a': { location: '/b' }, '/b': { location: '/a' } } })
    const err = await h.source(origin.url('/a')).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
    expect(isHaulError(err, 'HAUL_SOURCE') && err.transient === false).toBe(true)
    expect(String(err)).toMatch(/loop/)
    expect(origin.requests).toBe(2)
  })

  it('sends credentials to the original origin only, other headers everywhere', async () => {
    const cdn = await h.origin({ files: { '/blob': data } })
    const origin = await h.origin({ redirects: { '/f': { location: cdn.url('/blob') }, '/same': { location: '/f' } } })
    const source = h.source(origin.url('/same'), {
      headers: { Authorization: 'Bearer secret', Cookie: 'sid=1', 'X-Api-Key': 'k', 'X-Trace': 't' },
    })
    await collect(await source.read({ offset: 0, signal: deadline() }))
    for (const record of origin.log) {
      expect(record.headers).toMatchObject({ authorization: 'Bearer secret', cookie: 'sid=1', 'x-api-key': 'k', 'x-trace': 't' })
    }
    expect(cdn.log).toHaveLength(1)
    expect(cdn.log[0]?.headers).toMatchObject({ 'x-trace': 't' })
    expect(cdn.log[0]?.headers.authorization).toBeUndefined()
    expect(cdn.log[0]?.headers.cookie).toBeUndefined()
    expect(cdn.log[0]?.headers['x-api-key']).toBeUndefined()
  })

  it('turns user:password in the URL into Basic auth for that origin, and keeps it out of the id', async () => {
    const origin = await h.origin({ files: { '/f': data } })
    const source = h.source(origin.url('/f').replace('http://', 'http://me:p%40ss@'))
    await collect(await source.read({ offset: 0, signal: deadline() }))
    expect(origin.log[0]?.headers.authorization).toBe(`Basic ${Buffer.from('me:p@ss').toString('base64')}`)
    expect(source.id).toBe(origin.url('/f'))
  })

  it('refuses an https to http downgrade', async () => {
    const agent = new MockAgent()
    agent.disableNetConnect()
    agent.get('https://secure.test').intercept({ path: '/f' }).reply(302, '', { headers: { location: 'http://plain.test/f' } })
    try {
      const err = await h.source('https://secure.test/f', { dispatcher: agent }).read({ offset: 0, signal: deadline() }).catch((e: unknown) => e)
      expect(isHaulError(err, 'HAUL_SOURCE') && err.transient === false).toBe(true)
      expect(String(err)).toMatch(/downgrade/)
    } finally {
      await agent.close()
    }
  })
})
