/** A byte range one connection is filling: [pos, end). `end` may shrink when the range is split. */
export interface Segment {
  pos: number
  end: number
  owned: boolean
}

/**
 * Hands out ranges to connections. With pieces on ({@link usePieces}), free ranges go out a
 * piece at a time, lowest offset first, so the bytes complete roughly in file order and the
 * whole-file digest (which must see them in order) keeps up during the download instead of
 * reading most of the file back at the end. When one connection runs out of work, the largest
 * range still being filled is split in half and the back half goes to it (aria2-style), so all
 * connections stay busy to the end.
 */
export class SegmentScheduler {
  readonly #segments: Segment[]
  readonly #minBytes: number
  #pieceBytes: number | undefined

  constructor(gaps: ReadonlyArray<readonly [number, number]>, minBytes: number) {
    this.#segments = gaps.map(([pos, end]) => ({ pos, end, owned: false }))
    this.#minBytes = minBytes
  }

  /** Work for an idle connection, or undefined when none is worth taking. */
  take(): Segment | undefined {
    let free: Segment | undefined
    for (const s of this.#segments) if (!s.owned && s.pos < s.end && (free === undefined || s.pos < free.pos)) free = s
    if (free !== undefined) {
      this.#cut(free)
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

  /**
   * From now on ranges go out `bytes` at a time. Ranges already being filled are cut to one
   * piece too (their connection stops there and takes the next piece); the rest becomes free.
   */
  usePieces(bytes: number): void {
    this.#pieceBytes = Math.max(this.#minBytes, bytes)
    for (const s of [...this.#segments]) if (s.owned) this.#cut(s)
  }

  /** Cuts `s` to one piece, leaving the rest free (unless the rest would be a sliver). */
  #cut(s: Segment): void {
    const piece = this.#pieceBytes
    if (piece === undefined || s.end === Number.POSITIVE_INFINITY || s.end - s.pos <= piece + this.#minBytes) return
    this.#segments.push({ pos: s.pos + piece, end: s.end, owned: false })
    s.end = s.pos + piece
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
