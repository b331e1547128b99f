import { closedPort } from '@haul/testkit'
import { describe, expect, it } from 'vitest'
import { suggestFileName } from '../src/suggest-file-name.js'
import { harness } from './helpers.js'

const h = harness()

describe('suggestFileName', () => {
  it("takes Content-Disposition's name over the URL's, made safe", async () => {
    const origin = await h.origin({ files: { '/dl': { body: 'x', contentDisposition: 'attachment; filename="../../model v2.onnx"' } } })
    expect(await suggestFileName(origin.url('/dl'))).toBe('model v2.onnx')
    expect(origin.log.map((r) => r.method)).toEqual(['HEAD'])
  })

  it("falls back to the URL's last segment, percent-decoded", async () => {
    const origin = await h.origin({ files: { '/a/b%20c.tar.gz': 'x' } })
    expect(await suggestFileName(origin.url('/a/b%20c.tar.gz?sig=1'))).toBe('b c.tar.gz')
  })

  it('asks with a one-byte GET where HEAD is refused, and sends the headers given', async () => {
    const origin = await h.origin({
      files: { '/f': { body: 'xyz', contentDisposition: 'attachment; filename="signed.bin"' } },
      fault: (req) => (req.method === 'HEAD' ? { status: 403 } : undefined),
    })
    expect(await suggestFileName(origin.url('/f'), { headers: { Authorization: 'Bearer t' } })).toBe('signed.bin')
    expect(origin.log.map((r) => [r.method, r.headers.range, r.headers.authorization])).toEqual([
      ['HEAD', undefined, 'Bearer t'],
      ['GET', 'bytes=0-0', 'Bearer t'],
    ])
  })

  it("leaves the name to the URL when the probe fails (the download reports why)", async () => {
    expect(await suggestFileName(`http://127.0.0.1:${await closedPort()}/x/data.csv`)).toBe('data.csv')
  })

  it.each(['/pub/', '/'])('refuses a URL ending in "/" (%s) with HAUL_USAGE that points at -o', async (path) => {
    const origin = await h.origin({ fault: () => ({ html: true, body: '<html><a href="f.bin">f.bin</a></html>' }) })
    const err = await suggestFileName(origin.url(path)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_USAGE' })
    expect(String(err)).toMatch(/ends in "\/"/)
    expect(String(err)).toContain('-o NAME')
  })

  it('refuses an HTML answer for a name without an extension (a directory listing), but not for page.html', async () => {
    const origin = await h.origin({ files: { '/pub': { body: '<html></html>', contentType: 'text/html; charset=utf-8' }, '/page.html': { body: '<html></html>', contentType: 'text/html' } } })
    const err = await suggestFileName(origin.url('/pub')).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_USAGE' })
    expect(String(err)).toMatch(/HTML page.*"pub" has no file extension/)
    expect(String(err)).toContain('-o NAME')
    expect(await suggestFileName(origin.url('/page.html'))).toBe('page.html')
  })

  it('keeps a folder URL whose answer names a file in Content-Disposition', async () => {
    const origin = await h.origin({ files: { '/latest/': { body: 'x', contentType: 'text/html', contentDisposition: 'attachment; filename="build-42.zip"' } } })
    expect(await suggestFileName(origin.url('/latest/'))).toBe('build-42.zip')
  })

  it('keeps a name without an extension when the answer is not HTML', async () => {
    const origin = await h.origin({ files: { '/bin/tool': 'ELF' } })
    expect(await suggestFileName(origin.url('/bin/tool'))).toBe('tool')
  })

  it('rejects a URL that is not http(s) with HAUL_USAGE, and names no password in errors', async () => {
    await expect(suggestFileName('ftp://example.com/f')).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    const origin = await h.origin({})
    const err = await suggestFileName(origin.url('/dir/').replace('http://', 'http://me:s3cret@')).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'HAUL_USAGE' })
    expect(String(err)).not.toContain('s3cret')
  })
})
