import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tuneV8 } from '../src/v8-tuning.js'

const tuning = fileURLToPath(new URL('../dist/v8-tuning.js', import.meta.url))

/**
 * A child that calls a small function 300 times (≈ 1500 bytes of bytecode a call) under
 * --trace-opt, after tuneV8 or not: what it prints about that function's optimization.
 */
function traceOpt(tune: boolean): string {
  const script = `
    if (${tune}) (await import(${JSON.stringify(tuning)})).tuneV8([], '')
    function work(n) { let s = 0; for (let i = 0; i < 50; i++) s += (n * i) % 7; return s }
    let t = 0
    for (let i = 0; i < 300; i++) t += work(i)
    if (t <= 0) process.exit(3)`
  return execFileSync(process.execPath, ['--trace-opt', '--input-type=module', '-e', script], { encoding: 'utf8' })
}

describe('tuneV8', () => {
  it('raises the budget at run time: a function V8 optimizes by default is left to the baseline tiers', () => {
    expect(traceOpt(false)).toMatch(/marking .*work.* for optimization/)
    expect(traceOpt(true)).not.toMatch(/work/)
  })

  it("leaves a budget the user gave to node alone", () => {
    expect(tuneV8(['--interrupt-budget=5000'], '')).toBe(false)
    expect(tuneV8([], '--max-old-space-size=100 --interrupt-budget=5000')).toBe(false)
  })
})
