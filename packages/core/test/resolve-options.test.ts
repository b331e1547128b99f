import { describe, expect, it } from 'vitest'
import { DEFAULT_CONNECTIONS, DEFAULT_RETRIES, DEFAULT_WRITEBACK_BYTES, MAX_CONNECTIONS, OPTION_BOUNDS, isHaulError, resolveOptions, type DownloadOptions } from '../src/index.js'

function usageError(options: DownloadOptions): string {
  try {
    resolveOptions(options)
  } catch (err) {
    if (isHaulError(err, 'HAUL_USAGE')) return err.message
    throw err
  }
  throw new Error(`resolveOptions accepted ${JSON.stringify(options)}`)
}

describe('resolveOptions', () => {
  it('fills in every default and derives the sizes from the connections', () => {
    const one = resolveOptions({ output: 'out.bin' })
    expect(one).toMatchObject({ connections: DEFAULT_CONNECTIONS, retries: DEFAULT_RETRIES, writebackBytes: DEFAULT_WRITEBACK_BYTES, lockKind: 'auto', hashThread: true, fsync: true, noWait: false })
    expect(one.destination).toMatch(/^\/.*\/out\.bin$/)
    const many = resolveOptions({ output: 'out.bin', connections: 8 })
    // The checkpoint budget is shared by the connections, but never below 1 MiB each.
    expect(many.checkpointBytes).toBeLessThan(one.checkpointBytes)
    expect(many.checkpointBytes).toBeGreaterThanOrEqual(1024 * 1024)
    expect(many.buffers).toBeGreaterThan(one.buffers)
  })

  it('turns the background writeback off with the fsyncs, unless it is asked for', () => {
    expect(resolveOptions({ output: 'o', fsync: false }).writebackBytes).toBe(0)
    expect(resolveOptions({ output: 'o', fsync: false, writebackBytes: 1024 }).writebackBytes).toBe(1024)
    expect(resolveOptions({ output: 'o', fsync: true }).writebackBytes).toBe(DEFAULT_WRITEBACK_BYTES)
  })

  it('checks every bound in OPTION_BOUNDS, with the bound in the message', () => {
    expect(OPTION_BOUNDS.connections.max).toBe(MAX_CONNECTIONS)
    for (const [name, bound] of Object.entries(OPTION_BOUNDS)) {
      expect(usageError({ output: 'o', [name]: bound.max + 1 })).toContain(`${name} must be a whole number from ${bound.min} to ${bound.max}`)
      expect(usageError({ output: 'o', [name]: bound.min - 1 })).toContain(name)
      expect(usageError({ output: 'o', [name]: bound.min + 0.5 })).toContain(name)
      expect(() => resolveOptions({ output: 'o', [name]: bound.max })).not.toThrow()
    }
  })

  it('rejects a missing output, a bad size and an unknown lock kind', () => {
    expect(usageError({ output: '' })).toMatch(/output path is required/)
    expect(usageError({ output: 'o', size: -1 })).toMatch(/size must be a byte count/)
    expect(usageError({ output: 'o', lockKind: 'flock' as 'auto' })).toMatch(/not a lock kind/)
  })
})
