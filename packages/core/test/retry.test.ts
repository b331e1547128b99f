import { describe, expect, it } from 'vitest'
import { backoffDelay, isTransientStatus, parseRetryAfter } from '../src/driver.js'

describe('retry policy', () => {
  it('draws full-jitter delays below an exponentially growing, capped ceiling', () => {
    expect(backoffDelay(1, { baseMs: 100 }, () => 0.999)).toBe(99)
    expect(backoffDelay(3, { baseMs: 100 }, () => 0.999)).toBe(399)
    expect(backoffDelay(20, { baseMs: 100, capMs: 1000 }, () => 0.999)).toBe(999)
    expect(backoffDelay(5, { baseMs: 100 }, () => 0)).toBe(0)
  })

  it('reads Retry-After as seconds or an HTTP-date, ignoring garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-1', now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })

  it('classifies statuses: 408/429/5xx transient, 501/505 and 4xx permanent', () => {
    expect([408, 425, 429, 500, 502, 503, 504].every(isTransientStatus)).toBe(true)
    expect([400, 401, 403, 404, 410, 416, 501, 505].some(isTransientStatus)).toBe(false)
  })
})
