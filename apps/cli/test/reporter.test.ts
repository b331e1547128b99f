import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { captureStream as capture } from './helpers.js'
import { Reporter } from '../src/reporter.js'


const MiB = 1024 * 1024

describe('progress for people', () => {
  it('a terminal gets one live line with bytes/total, percent, speed, ETA and connections, cleared before other lines', () => {
    const { stream, text } = capture(true)
    const r = new Reporter('tty', { stdout: stream, stderr: stream })
    r.event({ event: 'progress', bytes: 10 * MiB, total: 40 * MiB, bytesPerSecond: 5 * MiB, connections: 4 })
    expect(text()).toBe('\r\x1b[2K10.0 MiB / 40.0 MiB  25.0%  5.0 MiB/s  ETA 6s  4 conns')
    r.event({ event: 'done', path: '/x/f', bytes: 40 * MiB, sha256: 'ab' })
    expect(text().endsWith('\r\x1b[2KSaved: /x/f (40.0 MiB, sha256 ab)\n')).toBe(true)
    expect(r.ended).toBe(true)
  })

  it('a pipe gets plain progress lines, not every event', () => {
    const { stream, text } = capture(false)
    const r = new Reporter('plain', { stdout: stream, stderr: stream })
    r.event({ event: 'progress', bytes: MiB, bytesPerSecond: MiB, connections: 1 })
    r.event({ event: 'progress', bytes: 2 * MiB, bytesPerSecond: MiB, connections: 1 })
    expect(text()).toBe('1.0 MiB  1.0 MiB/s\n')
    expect(text()).not.toContain('\r')
  })

  it('a waiter says it waits and for whom; retries say why and when', () => {
    const { stream, text } = capture(false)
    const r = new Reporter('plain', { stdout: stream, stderr: stream })
    r.event({ event: 'wait', output: '/x/f', lock: '/x/.f.haul/lock' })
    r.event({ event: 'retry', attempt: 2, delayMs: 1500, reason: '503 Service Unavailable' })
    expect(text()).toMatch(/Waiting: another haul process is downloading \/x\/f/)
    expect(text()).toMatch(/Retry 2 in 1\.5s: 503 Service Unavailable/)
  })

  it('a restart says that staged bytes were dropped, how many, and why', () => {
    const { stream, text } = capture(false)
    const r = new Reporter('plain', { stdout: stream, stderr: stream })
    r.event({ event: 'restart', reason: 'http://h/f changed since the staged bytes were fetched', discarded: 8 * MiB, source: 'http://h/f' })
    expect(text()).toBe('Starting over from byte 0, dropping 8.0 MiB staged: http://h/f changed since the staged bytes were fetched\n')
  })

  it('quiet prints only errors; json prints every event as one line on stdout', () => {
    const q = capture(false)
    const quiet = new Reporter('quiet', { stdout: q.stream, stderr: q.stream })
    quiet.event({ event: 'progress', bytes: 1, bytesPerSecond: 1, connections: 1 })
    quiet.event({ event: 'error', code: 'HAUL_SOURCE', message: 'boom' })
    expect(q.text()).toBe('haul: boom\n')
    const lines: string[] = []
    const out = new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk))
        cb()
      },
    })
    const j = capture(false)
    const json = new Reporter('json', { stdout: out, stderr: j.stream })
    json.event({ event: 'start', source: 's', output: 'o', resumedFrom: 0 })
    expect(lines).toEqual(['{"event":"start","source":"s","output":"o","resumedFrom":0}\n'])
    expect(j.text()).toBe('')
  })
})
