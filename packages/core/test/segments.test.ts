import { describe, expect, it } from 'vitest'
import { SegmentScheduler, type Segment } from '../src/fetch/segments.js'

const MiB = 1024 * 1024

describe('SegmentScheduler with pieces', () => {
  it('cuts the running range to one piece and hands out the rest a piece at a time, lowest first', () => {
    const s = new SegmentScheduler([[0, 64 * MiB]], MiB)
    const first = s.take()!
    expect(first).toMatchObject({ pos: 0, end: 64 * MiB })
    first.pos = 3 * MiB // the first connection is reading
    s.usePieces(8 * MiB)
    expect(first.end).toBe(11 * MiB)
    const taken: Segment[] = []
    for (let i = 0; i < 3; i++) taken.push(s.take()!)
    expect(taken.map((t) => [t.pos / MiB, t.end / MiB])).toEqual([
      [11, 19],
      [19, 27],
      [27, 35],
    ])
  })

  it('covers every byte exactly once and leaves no range smaller than the minimum, stealing included', () => {
    const size = 48 * MiB + 123
    const s = new SegmentScheduler([[0, size]], MiB)
    s.usePieces(8 * MiB)
    const covered: Array<[number, number]> = []
    const running: Segment[] = []
    for (let i = 0; i < 4; i++) running.push(s.take()!)
    // Connections finish their pieces in turn and take the next; bounded by the piece count.
    for (let round = 0; round < 100 && running.length > 0; round++) {
      const seg = running.shift()!
      covered.push([seg.pos, seg.end])
      seg.pos = seg.end
      s.release(seg)
      const next = s.take()
      if (next !== undefined) running.push(next)
    }
    expect(s.done).toBe(true)
    covered.sort((a, b) => a[0] - b[0])
    let at = 0
    for (const [from, to] of covered) {
      expect(from).toBe(at)
      expect(to - from).toBeGreaterThanOrEqual(MiB)
      at = to
    }
    expect(at).toBe(size)
  })

  it('with no free piece left, an idle connection takes the back half of the largest running one', () => {
    const s = new SegmentScheduler([[0, 16 * MiB]], MiB)
    s.usePieces(8 * MiB)
    const a = s.take()!
    const b = s.take()!
    expect([a.pos, a.end, b.pos, b.end]).toEqual([0, 8 * MiB, 8 * MiB, 16 * MiB])
    a.pos = 6 * MiB
    const stolen = s.take()!
    expect([stolen.pos, stolen.end]).toEqual([12 * MiB, 16 * MiB])
    expect(b.end).toBe(12 * MiB)
  })
})
