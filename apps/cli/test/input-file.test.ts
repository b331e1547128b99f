import { describe, expect, it } from 'vitest'
import { parseInputFile } from '../src/input-file.js'

describe('parseInputFile', () => {
  it('reads SOURCE lines with indented options; blank lines and # comments are ignored; tabs on a SOURCE line are mirrors', () => {
    const text = ['# list', '', 'https://a/x\thttps://b/x', '  out=x.bin', '\tsha256=ab', '  mirror=https://c/x', '   # note', 'ipfs://bafy', '  gateway=http://g1', '  gateway=http://g2', '  integrity=sha256-AAAA'].join('\r\n')
    expect(parseInputFile(text)).toEqual([
      { line: 3, source: 'https://a/x', options: { output: 'x.bin', digests: { sha256: 'ab' }, mirrors: ['https://b/x', 'https://c/x'] } },
      { line: 8, source: 'ipfs://bafy', options: { digests: { integrity: 'sha256-AAAA' }, mirrors: [], gateways: ['http://g1', 'http://g2'] } },
    ])
  })

  it('a malformed line marks only its own entry, naming the line; an option before any SOURCE is an entry of its own', () => {
    const entries = parseInputFile([' out=orphan', 'https://a/1', '  colour=blue', 'https://a/2', '  out=two', '  out=again', 'https://a/3', '  nonsense', 'https://a/4'].join('\n'))
    expect(entries.map((e) => [e.line, e.source, e.error])).toEqual([
      [1, '', expect.stringMatching(/^line 1: .*before any SOURCE/)],
      [2, 'https://a/1', expect.stringMatching(/^line 3: unknown option "colour"/)],
      [4, 'https://a/2', expect.stringMatching(/^line 6: out= is given twice/)],
      [7, 'https://a/3', expect.stringMatching(/^line 8: expected key=value/)],
      [9, 'https://a/4', undefined],
    ])
  })
})
