// The progress display: a bar with percent, bytes, speed, ETA and connections on a terminal,
// the plain line when narrow, plain lines on a pipe, and a last line with size, time and
// average speed. Checked as functions, then in real terminals (`script`'s pty, which reports no
// width, and tmux at a chosen width) and through a real pipe.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { findBinary, killChildren, spawnChild, startOrigin, type Origin } from '@haul/testkit'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { formatDuration, progressBar, progressLine, terminalWidth, useColor } from '../src/progress-bar.js'
import { Reporter, reporterMode } from '../src/reporter.js'
import { HAUL, captureStream, haul, testBytes } from './helpers.js'

const MiB = 1024 * 1024
const ESC = '\x1b'


describe('progress bar and line', () => {
  const state = { bytes: 10 * MiB, total: 40 * MiB, bytesPerSecond: 5 * MiB, connections: 4 }

  it('a bar with percent, bytes, total, speed, ETA and connections that fits the width', () => {
    const bar = progressBar(state, 80, false)!
    expect(bar).toMatch(/^ 25% \[=+> +\] 10\.0 MiB \/ 40\.0 MiB {2}5\.0 MiB\/s {2}ETA 6s {2}4 conns$/)
    expect(bar.length).toBeLessThanOrEqual(79)
    // The bar keeps its width while the text after it changes length.
    const later = progressBar({ ...state, bytes: 30 * MiB, connections: 1 }, 80, false)!
    expect(later.indexOf(']')).toBe(bar.indexOf(']'))
    expect(progressBar(state, 200, false)!.match(/\[(.*)\]/)![1]!.length).toBe(50)
  })

  it('no bar when it would be narrower than 10 cells or the total is unknown: the caller shows the line', () => {
    expect(progressBar(state, 60, false)).toBeUndefined()
    expect(progressBar({ ...state, total: undefined }, 120, false)).toBeUndefined()
  })

  it('the line drops ETA and connections before it cuts, and never shows an ETA at the end', () => {
    expect(progressLine(state)).toBe('10.0 MiB / 40.0 MiB  25.0%  5.0 MiB/s  ETA 6s  4 conns')
    expect(progressLine(state, 40)).toBe('10.0 MiB / 40.0 MiB  25.0%  5.0 MiB/s')
    expect(progressLine(state, 20)).toBe('10.0 MiB / 40.0 MiB ')
    expect(progressLine({ ...state, bytes: 40 * MiB })).toBe('40.0 MiB / 40.0 MiB 100.0%  5.0 MiB/s  4 conns')
  })

  it('colour only on a terminal without NO_COLOR and with a TERM that is not dumb', () => {
    expect(progressBar(state, 80, true)).toContain(`${ESC}[32m`)
    expect(useColor({ isTTY: true }, { TERM: 'xterm' })).toBe(true)
    expect(useColor({ isTTY: true }, { TERM: 'xterm', NO_COLOR: '1' })).toBe(false)
    expect(useColor({ isTTY: true }, { TERM: 'dumb' })).toBe(false)
    expect(useColor({ isTTY: false }, { TERM: 'xterm' })).toBe(false)
  })

  it('the width: what the terminal reports, else $COLUMNS, else 80', () => {
    expect(terminalWidth({ columns: 132 }, { COLUMNS: '50' })).toBe(132)
    expect(terminalWidth({ columns: 0 }, { COLUMNS: '50' })).toBe(50)
    expect(terminalWidth({}, { COLUMNS: 'wide' })).toBe(80)
    expect(formatDuration(3.21, true)).toBe('3.2s')
    expect(formatDuration(125)).toBe('2m05s')
  })

  it('a terminal gets the bar; a speed of 0 at the end is replaced by the average, and the last line has size, time and average', () => {
    const { stream, text } = captureStream(true)
    const r = new Reporter(reporterMode({ json: false, quiet: false }, stream), { stdout: stream, stderr: stream }, { env: { NO_COLOR: '1' } })
    r.event({ event: 'start', source: 'https://h/f', output: '/x/f', total: 4 * MiB, resumedFrom: MiB })
    r.event({ event: 'progress', bytes: 2 * MiB, total: 4 * MiB, bytesPerSecond: MiB, connections: 2 })
    expect(text()).toMatch(/\r\x1b\[2K 50% \[=+> +\] 2\.0 MiB \/ 4\.0 MiB {2}1\.0 MiB\/s {2}ETA 2s {2}2 conns$/)
    r.event({ event: 'progress', bytes: 4 * MiB, total: 4 * MiB, bytesPerSecond: 0, connections: 0 })
    expect(text().split('\r').at(-1)).not.toMatch(/ 0 B\/s/)
    r.event({ event: 'done', path: '/x/f', bytes: 4 * MiB, sha256: 'ab' })
    expect(text()).toMatch(/Saved: \/x\/f \(4\.0 MiB \(3\.0 MiB this run\) in [\d.]+m?s at [\d.]+ [KMGT]?i?B\/s, sha256 ab\)\n$/)
  })
})

let dir: string
let origin: Origin | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-progress-'))
})
afterEach(async () => {
  await killChildren()
  await origin?.close()
  origin = undefined
  await rm(dir, { recursive: true, force: true })
})

/** A 6 MiB file paced to 3 MiB/s: two seconds of progress. */
async function slowOrigin(): Promise<string> {
  origin = await startOrigin({ files: { '/big.bin': testBytes(6 * MiB) }, rateBytesPerSecond: 3 * MiB })
  return origin.url('/big.bin')
}

const quote = (words: string[]): string => words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ')

describe('in real terminals and pipes', () => {
  it.skipIf(findBinary('script') === undefined)("script's pty reports no width: the bar is drawn for 80 columns, in colour unless NO_COLOR (skipped: script not installed)", async () => {
    const url = await slowOrigin()
    const command = quote([process.execPath, HAUL, 'get', url, '-o', 'f', '-x', '2'])
    const coloured = spawnChild('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: { COLUMNS: undefined, TERM: 'xterm', NO_COLOR: undefined }, timeoutMs: 60_000 })
    expect(await coloured.waitForExit()).toMatchObject({ code: 0 })
    const frames = coloured.stdout.split('\r').map((f) => f.replace(/\x1b\[2K/g, ''))
    const bars = frames.filter((f) => /^ *\d+% \[/.test(f))
    expect(bars.length).toBeGreaterThan(1)
    for (const bar of bars) expect(bar.replace(/\x1b\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(79)
    expect(bars.some((b) => b.includes(`${ESC}[32m`))).toBe(true)
    expect(bars.some((b) => /ETA \d+s/.test(b) && / \/ 6\.0 MiB {2}[\d.]+ MiB\/s/.test(b))).toBe(true)
    expect(coloured.stdout).toMatch(/Saved: .*f \(6\.0 MiB in [\d.]+s at [\d.]+ MiB\/s, sha256 [0-9a-f]{64}\)/)
    await rm(join(dir, 'f'))
    const plain = spawnChild('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: { COLUMNS: undefined, TERM: 'xterm', NO_COLOR: '1' }, timeoutMs: 60_000 })
    expect(await plain.waitForExit()).toMatchObject({ code: 0 })
    expect(plain.stdout).toMatch(/\d+% \[=+/)
    expect(plain.stdout).not.toContain(`${ESC}[32m`)
  })

  it.skipIf(findBinary('tmux') === undefined)('tmux at 120 columns gets a 50-cell bar; at 50 columns the plain line, no bar (skipped: tmux not installed)', async () => {
    const url = await slowOrigin()
    // A server per terminal: one whose last session just ended may still be exiting when the next starts.
    const terminals = [[120, 'wide'], [50, 'narrow']] as const
    const socketOf = (out: string): string => `haul-test-${process.pid}-${out}`
    let socket = ''
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' })
    try {
      for (const [width, out] of terminals) {
        socket = socketOf(out)
        const log = join(dir, `${out}.log`)
        // The download waits for Enter, so that the pane's output is logged from its first byte.
        tmux('new-session', '-d', '-s', out, '-c', dir, '-x', String(width), '-y', '10', `read go; ${quote([process.execPath, HAUL, 'get', url, '-o', join(dir, out)])}; tmux -L ${socket} wait-for -S ${out}-done`)
        tmux('pipe-pane', '-t', out, '-o', `cat >> ${log}`)
        tmux('send-keys', '-t', out, 'Enter')
        // Asynchronously: the origin serving the download runs in this process.
        await promisify(execFile)('tmux', ['-L', socket, 'wait-for', `${out}-done`], { timeout: 30_000 })
        const text = (await readFile(log, 'utf8')).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
        if (width === 120) {
          expect(text).toMatch(/\d+% \[[=> ]{50}\] [\d.]+ MiB \/ 6\.0 MiB/)
        } else {
          expect(text).not.toMatch(/% \[/)
          expect(text).toMatch(/[\d.]+ (MiB|KiB|B) \/ 6\.0 MiB +[\d.]+%/)
        }
        expect(text).toMatch(/Saved: .* \(6\.0 MiB in [\d.]+s at [\d.]+ MiB\/s, sha256/)
        expect((await readFile(join(dir, out))).length).toBe(6 * MiB)
      }
    } finally {
      for (const [, out] of terminals) {
        socket = socketOf(out)
        try {
          tmux('kill-server')
        } catch {
          // Already gone with its last session.
        }
      }
    }
  })

  it('a pipe gets plain lines without carriage returns or escapes, and the last line has size, time and average', async () => {
    const url = await slowOrigin()
    const child = haul(['get', url, '-o', 'f'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stderr).not.toMatch(/[\r\x1b]/)
    expect(child.stderr).toMatch(/^Downloading .* → .*f\n/)
    expect(child.stderr).toMatch(/Saved: .*f \(6\.0 MiB in [\d.]+s at [\d.]+ MiB\/s, sha256 [0-9a-f]{64}\)\n$/)
  })
})
