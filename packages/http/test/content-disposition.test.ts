import { describe, expect, it } from 'vitest'
import { parseContentDisposition } from '../src/content-disposition.js'

describe('parseContentDisposition', () => {
  it.each([
    ['attachment; filename="report.pdf"', 'report.pdf'],
    ['attachment; filename=report.pdf', 'report.pdf'],
    ['ATTACHMENT; FILENAME="Report.PDF"', 'Report.PDF'],
    ['attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'],
    ['attachment; filename="semi;colon.txt"; size=3', 'semi;colon.txt'],
    [`attachment; filename*=UTF-8''na%C3%AFve%20file.txt`, 'naïve file.txt'],
    [`attachment; filename="fallback.txt"; filename*=UTF-8''%E2%82%AC.txt`, '€.txt'],
    [`attachment; filename*=UTF-8''%E2%82%AC.txt; filename="fallback.txt"`, '€.txt'],
    [`attachment; filename*=iso-8859-1'en'%A3%20rates.txt`, '£ rates.txt'],
    [`attachment; filename*=UTF-8''%ZZbad; filename="fallback.txt"`, 'fallback.txt'],
    [`attachment; filename*=UTF-8''%FF%FE; filename="fallback.txt"`, 'fallback.txt'],
    ['attachment; filename="caf\u00c3\u00a9.txt"', 'café.txt'], // raw UTF-8 bytes seen as latin1
    ['attachment; filename="caf\u00e9.txt"', 'café.txt'], // genuine latin1
    ['attachment; filename="na%C3%AFve.txt"', 'na%C3%AFve.txt'], // filename= is not percent-decoded
    ['inline', undefined],
  ])('%s → %s', (header, fileName) => {
    expect(parseContentDisposition(header)?.fileName).toBe(fileName)
  })

  it.each(['../../etc/passwd', '/etc/shadow', 'a/b\\c.txt', '.bashrc', 'con.txt', 'x\u0001y'])('returns hostile name %j raw: sanitising is the caller’s job', (name) => {
    expect(parseContentDisposition(`attachment; filename*=UTF-8''${encodeURIComponent(name)}`)?.fileName).toBe(name)
  })

  it('returns the type and every parameter', () => {
    expect(parseContentDisposition('Attachment; Filename="x.bin"; creation-date="Wed, 12 Feb 1997 16:29:51 -0500"')).toEqual({
      type: 'attachment',
      fileName: 'x.bin',
      parameters: { filename: 'x.bin', 'creation-date': 'Wed, 12 Feb 1997 16:29:51 -0500' },
    })
  })

  it('returns undefined for no header or no type', () => {
    expect(parseContentDisposition(undefined)).toBeUndefined()
    expect(parseContentDisposition('')).toBeUndefined()
    expect(parseContentDisposition('; filename="x"')).toBeUndefined()
  })
})
