/**
 * Runs jobs (file writes with their fsyncs) a few at a time: `add` waits while `limit` are under
 * way, so what the jobs hold stays bounded. The first failure is thrown by the next `add` or by
 * `drain`; the jobs started before it still finish.
 */
export class WriteQueue {
  private readonly running = new Set<Promise<void>>()
  private failure: { error: unknown } | undefined

  constructor(private readonly limit: number) {}

  /**
   * Starts `job` once there is room; resolves then, to `done`: settled when the job is (boxed, as
   * a promise can't resolve to a promise). `done` never rejects: a failure surfaces from the queue.
   */
  async add(job: () => Promise<void>): Promise<{ done: Promise<void> }> {
    while (this.running.size >= this.limit) await Promise.race(this.running)
    this.throwFailure()
    const run = job()
    const tracked = run.then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= { error }
      },
    )
    this.running.add(tracked)
    void tracked.then(() => this.running.delete(tracked))
    return { done: tracked }
  }

  /** Waits for every job; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.running)
    this.throwFailure()
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure.error
  }
}
