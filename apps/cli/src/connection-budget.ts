import { abortedError } from '@haul/core'

/**
 * The connections a batch may have open at once, shared by its files: a counting semaphore from
 * which each file takes up to its `-x` when it starts (at least one, waiting for it if none is
 * free) and gives them back when it ends. Waiters are served in order.
 */
export class ConnectionBudget {
  #free: number
  readonly #waiters: Array<{ want: number; resolve: (n: number) => void }> = []

  constructor(readonly max: number) {
    this.#free = max
  }

  /** Connections not taken right now. */
  get free(): number {
    return this.#free
  }

  /** Takes between 1 and `want` connections: as many as are free, once at least one is. */
  acquire(want: number, signal?: AbortSignal): Promise<number> {
    if (signal?.aborted === true) return Promise.reject(abortedError(signal))
    if (this.#free > 0 && this.#waiters.length === 0) return Promise.resolve(this.#take(want))
    return new Promise((resolve, reject) => {
      const waiter = {
        want,
        resolve: (n: number) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(n)
        },
      }
      const onAbort = (): void => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        reject(abortedError(signal))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(waiter)
    })
  }

  /** Gives back `n` connections taken by {@link acquire}. */
  release(n: number): void {
    this.#free += n
    while (this.#free > 0 && this.#waiters.length > 0) {
      const waiter = this.#waiters.shift()!
      waiter.resolve(this.#take(waiter.want))
    }
  }

  #take(want: number): number {
    const n = Math.max(1, Math.min(want, this.#free))
    this.#free -= n
    return n
  }
}
