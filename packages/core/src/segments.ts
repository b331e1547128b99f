/** A byte range one connection is filling: [pos, end). `end` may shrink when the range is split. */
export interface Segment {
  pos: number
  end: number
  owned: boolean
}

/**
 * Hands out ranges to connections. When one connection runs out of work, the largest range
 * still being filled is split in half and the back half goes to it (aria2-style), so all
 * connections stay busy to the end.
 */
export class SegmentScheduler {
  readonly #segments: Segment[]
  readonly #minBytes: number

  constructor(gaps: ReadonlyArray<readonly [number, number]>, minBytes: number) {
    this.#segments = gaps.map(([pos, end]) => ({ pos, end, owned: false }))
    this.#minBytes = minBytes
  }

  /** Work for an idle connection, or undefined when none is worth taking. */
  take(): Segment | undefined {
    const free = this.#segments.find((s) => !s.owned && s.pos < s.end)
    if (free !== undefined) {
      free.owned = true
      return free
    }
    let best: Segment | undefined
    for (const s of this.#segments) {
      if (s.owned && s.end !== Number.POSITIVE_INFINITY && (best === undefined || s.end - s.pos > best.end - best.pos)) best = s
    }
    if (best === undefined || best.end - best.pos < 2 * this.#minBytes) return undefined
    const mid = best.pos + Math.floor((best.end - best.pos) / 2)
    const back: Segment = { pos: mid, end: best.end, owned: true }
    best.end = mid
    this.#segments.push(back)
    return back
  }

  /** A connection gives its range back (finished, or failed and will be retried by someone). */
  release(segment: Segment): void {
    segment.owned = false
    const index = this.#segments.indexOf(segment)
    if (segment.pos >= segment.end && index >= 0) this.#segments.splice(index, 1)
  }

  /** Whether every byte is accounted for. */
  get done(): boolean {
    return this.#segments.every((s) => s.pos >= s.end)
  }
}
