import { describe, expect, it } from 'vitest'
import { captureStream as capture } from './helpers.js'
import { BatchReporter, type BatchFile } from '../src/batch-reporter.js'


const MiB = 1024 * 1024
const file = (source: string, output: string, line?: number): BatchFile => ({ source, output, state: 'active', bytes: 0, bytesPerSecond: 0, ...(line === undefined ? {} : { line }) })

describe('batch progress', () => {
  it('a terminal gets a line per active file and a total line, erased before a message and drawn again', () => {
    const { stream, text } = capture(true)
    const files = [file('https://h/a', '/d/a.bin'), file('https://h/b', '/d/b.bin'), { ...file('https://h/c', '/d/c.bin'), state: 'queued' as const }]
    const r = new BatchReporter('tty', { stdout: stream, stderr: stream }, files)
    r.event(files[0]!, { event: 'progress', bytes: 2 * MiB, total: 4 * MiB, bytesPerSecond: MiB, connections: 1 })
    expect(text()).toBe('  a.bin  2.0 MiB / 4.0 MiB  50.0%  1.0 MiB/s\n  b.bin  0 B  0 B/s\n0/3 files, 2 active  2.0 MiB  1.0 MiB/s\n')
    r.landed(files[1]!, 3 * MiB, false)
    expect(text()).toContain('\x1b[3F\x1b[JSaved: /d/b.bin (3.0 MiB)\n  a.bin')
    expect(text().endsWith('1/3 files, 1 active  5.0 MiB  1.0 MiB/s\n')).toBe(true)
  })

  it('--json events carry file, source and line; the summary names failures and the exit status', () => {
    const { stream, text } = capture(false)
    const files = [file('https://h/a', '/d/a.bin', 3), file('https://h/b', '/d/b.bin', 5)]
    const r = new BatchReporter('json', { stdout: stream, stderr: stream }, files)
    r.event(files[0]!, { event: 'retry', attempt: 2, delayMs: 10, reason: 'x', source: 'https://mirror/a' })
    r.landed(files[0]!, 1, false)
    files[1]!.failure = { code: 'HAUL_SOURCE', message: 'HTTP 404' }
    r.failed(files[1]!)
    r.summary(3, undefined)
    expect(text().trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([
      { event: 'retry', attempt: 2, delayMs: 10, reason: 'x', source: 'https://mirror/a', file: '/d/a.bin', line: 3 },
      { event: 'error', code: 'HAUL_SOURCE', message: 'HTTP 404', file: '/d/b.bin', source: 'https://h/b', line: 5 },
      { event: 'summary', files: 2, landed: 1, notStarted: 0, failed: [{ source: 'https://h/b', file: '/d/b.bin', line: 5, code: 'HAUL_SOURCE', message: 'HTTP 404' }], exitCode: 3 },
    ])
  })
})
