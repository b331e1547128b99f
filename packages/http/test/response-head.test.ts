import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { framingOf, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from '../src/response-head.js'

const parse = (text: string): ReturnType<typeof parseResponseHead> => parseResponseHead(Buffer.from(text, 'latin1'))
const head = (text: string): ResponseHead => {
  const h = parse(text)
  if (typeof h === 'string') throw new Error(`expected a head, got ${h}`)
  return h
}

describe('parseResponseHead', () => {
  it('parses the status, lowercases names, trims values and keeps repeated headers in order', () => {
    const text = 'HTTP/1.1 206 Partial Content\r\nContent-Length:  5 \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\n\r\n'
    const h = head(`${text}hello`)
    expect(h.statusCode).toBe(206)
    expect(h.minor).toBe(1)
    expect(h.headers['content-length']).toBe('5')
    expect(h.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(h.headers['x-empty']).toBe('')
    expect(h.length).toBe(text.length)
  })

  it('accepts HTTP/1.0 and a status line without a reason phrase', () => {
    expect(head('HTTP/1.0 200\r\n\r\n').minor).toBe(0)
    expect(head('HTTP/1.1 404 \r\n\r\n').statusCode).toBe(404)
  })

  it('says incomplete until the blank line arrives', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n')).toBe('incomplete')
    expect(parse('')).toBe('incomplete')
  })

  it.each([
    ['a bare LF line end', 'HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n'],
    ['a header without a colon', 'HTTP/1.1 200 OK\r\nnonsense\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\n\r\n'],
    ['HTTP/2 in an HTTP/1 head', 'HTTP/2 200 OK\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['no status line at all', '<html>\r\n\r\n'],
  ])('refuses %s', (_why, text) => {
    expect(parse(text)).toBe('invalid')
  })

  it('refuses a head longer than MAX_HEAD_BYTES, ended or not', () => {
    const long = `HTTP/1.1 200 OK\r\nX-Long: ${'a'.repeat(MAX_HEAD_BYTES)}`
    expect(parse(long)).toBe('invalid')
    expect(parse(`${long}\r\n\r\n`)).toBe('invalid')
  })

  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/)
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/)
  const heads = fc.record({
    status: fc.integer({ min: 200, max: 599 }),
    fields: fc.array(fc.tuple(token, value), { maxLength: 12 }),
  })
  const wire = ({ status, fields }: { status: number; fields: Array<[string, string]> }): string => `HTTP/1.1 ${status} X\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`

  it('finds every field of a generated head, whatever body bytes follow', () => {
    fc.assert(
      fc.property(heads, fc.uint8Array({ maxLength: 64 }), (h, body) => {
        const text = wire(h)
        const parsed = parseResponseHead(Buffer.concat([Buffer.from(text, 'latin1'), body]))
        if (typeof parsed === 'string') return false
        const expected = new Map<string, string[]>()
        for (const [n, v] of h.fields) expected.set(n.toLowerCase(), [...(expected.get(n.toLowerCase()) ?? []), v])
        for (const [n, vs] of expected) expect(parsed.headers[n]).toEqual(vs.length === 1 ? vs[0] : vs)
        expect(Object.keys(parsed.headers).length).toBe(expected.size)
        return parsed.statusCode === h.status && parsed.length === text.length
      }),
      { numRuns: 300 },
    )
  })

  it('says incomplete for every proper prefix of a head', () => {
    fc.assert(
      fc.property(heads, fc.nat(), (h, cut) => {
        const text = wire(h)
        return parse(text.slice(0, cut % text.length)) === 'incomplete'
      }),
      { numRuns: 300 },
    )
  })

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (junk, prefixed) => {
        const data = prefixed ? Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), junk]) : Buffer.from(junk)
        const r = parseResponseHead(data)
        return r === 'incomplete' || r === 'invalid' || typeof r.statusCode === 'number'
      }),
      { numRuns: 500 },
    )
  })
})

describe('framingOf', () => {
  const of = (method: string, text: string): ReturnType<typeof framingOf> => framingOf(method, head(text))

  it('reads Content-Length, tolerating copies that agree', () => {
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n')).toEqual({ kind: 'length', length: 10 })
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n')).toEqual({ kind: 'length', length: 10 })
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n')).toEqual({ kind: 'length', length: 10 })
  })

  it('leaves conflicting or malformed lengths, transfer codings and 1xx to undici', () => {
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n').kind).toBe('other')
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n').kind).toBe('other')
    expect(of('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n').kind).toBe('other')
    expect(of('GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n').kind).toBe('other')
    expect(of('GET', 'HTTP/1.1 103 Early Hints\r\n\r\n').kind).toBe('other')
  })

  it('frames a chunked body as chunked only when asked, and only chunked alone over HTTP/1.1', () => {
    const chunked = (text: string): string => framingOf('GET', head(text), true).kind
    expect(chunked('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('chunked')
    expect(chunked('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n')).toBe('chunked')
    expect(of('GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').kind).toBe('other')
    expect(chunked('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n')).toBe('other')
    expect(chunked('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')).toBe('other')
    expect(chunked('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('other')
    expect(chunked('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('other')
    expect(chunked('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n')).toBe('length')
  })

  it('has no body for HEAD, 204 and 304, and reads to the close without a length', () => {
    expect(of('HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n').kind).toBe('none')
    expect(of('GET', 'HTTP/1.1 204 No Content\r\n\r\n').kind).toBe('none')
    expect(of('GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').kind).toBe('none')
    expect(of('GET', 'HTTP/1.0 200 OK\r\n\r\n').kind).toBe('close')
  })
})
