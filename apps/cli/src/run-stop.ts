import { HaulError, isHaulError, type HaulEvent } from '@haul/core'
import { asHaulError, exitCodeFor } from './exit-codes.js'

/**
 * What may stop a `haul get` from outside: SIGINT/SIGTERM (a second one leaves at once) and
 * `--timeout`. Downloads run on its `signal`; `asError` says what a download stopped by it
 * ended with.
 */
export class RunStop {
  readonly #controller = new AbortController()
  readonly #signals: NodeJS.EventEmitter | undefined
  #caught: NodeJS.Signals | undefined
  #timer: NodeJS.Timeout | undefined
  #timedOutAfterMs: number | undefined

  readonly #onSignal = (sig: NodeJS.Signals): void => {
    if (this.#caught !== undefined) process.exit(exitCodeFor('HAUL_ABORTED', this.#caught)) // a second ^C: leave now
    this.#caught = sig
    this.#controller.abort(new Error(`${sig} received`))
  }

  constructor(signals: NodeJS.EventEmitter | undefined) {
    this.#signals = signals
    signals?.on('SIGINT', this.#onSignal)
    signals?.on('SIGTERM', this.#onSignal)
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** The signal that stopped the run, if one did. */
  get caught(): NodeJS.Signals | undefined {
    return this.#caught
  }

  /** Stops the run after `ms` in all (`--timeout`). */
  timeoutAfter(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timedOutAfterMs = ms
      this.#controller.abort(new Error(`--timeout of ${ms / 1000} s passed`))
    }, ms)
    this.#timer.unref()
  }

  /** The HaulError a download that threw `err` ended with: a timeout is HAUL_SOURCE (exit 3). */
  asError(err: unknown): HaulError {
    if (this.#timedOutAfterMs !== undefined && this.#caught === undefined && (!isHaulError(err) || err.code === 'HAUL_ABORTED')) {
      return new HaulError('HAUL_SOURCE', `Gave up after --timeout ${this.#timedOutAfterMs / 1000} s; the partial download is kept and the next run resumes it.`, { cause: err })
    }
    return asHaulError(err, this.#caught)
  }

  /** `event`, or for a download's HAUL_ABORTED error after --timeout, the timeout's error. */
  translate(event: HaulEvent): HaulEvent {
    if (event.event !== 'error' || event.code !== 'HAUL_ABORTED' || this.#timedOutAfterMs === undefined) return event
    const error = this.asError(new HaulError('HAUL_ABORTED', event.message))
    return { event: 'error', code: error.code, message: error.message }
  }

  /** Stops listening. */
  dispose(): void {
    clearTimeout(this.#timer)
    this.#signals?.off('SIGINT', this.#onSignal)
    this.#signals?.off('SIGTERM', this.#onSignal)
  }
}
