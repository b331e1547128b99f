/** A set of disjoint, sorted, half-open byte ranges [start, end). */
export class RangeSet {
  #ranges: Array<[number, number]> = []

  /** The ranges, sorted and merged. */
  get ranges(): ReadonlyArray<readonly [number, number]> {
    return this.#ranges
  }

  /** Total bytes covered. */
  get total(): number {
    let sum = 0
    for (const [s, e] of this.#ranges) sum += e - s
    return sum
  }

  /** End of the range that starts at 0 (0 when byte 0 is missing). */
  get prefixEnd(): number {
    const first = this.#ranges[0]
    return first !== undefined && first[0] === 0 ? first[1] : 0
  }

  add(start: number, end: number): void {
    if (end <= start) return
    const out: Array<[number, number]> = []
    let placed = false
    for (const r of this.#ranges) {
      if (r[1] < start) out.push(r)
      else if (r[0] > end) {
        if (!placed) {
          out.push([start, end])
          placed = true
        }
        out.push(r)
      } else {
        start = Math.min(start, r[0])
        end = Math.max(end, r[1])
      }
    }
    if (!placed) out.push([start, end])
    this.#ranges = out
  }

  /** The ranges of [0, size) not covered; with an unknown size the last gap is open (Infinity). */
  gaps(size: number | undefined): Array<[number, number]> {
    const limit = size ?? Number.POSITIVE_INFINITY
    const out: Array<[number, number]> = []
    let cursor = 0
    for (const [s, e] of this.#ranges) {
      if (s >= limit) break
      if (s > cursor) out.push([cursor, s])
      cursor = Math.max(cursor, e)
    }
    if (cursor < limit) out.push([cursor, limit])
    return out
  }

  clear(): void {
    this.#ranges = []
  }
}
