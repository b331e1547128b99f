import { createRequire } from 'node:module'
import type { Worker } from 'node:worker_threads'

/**
 * One worker thread per process that runs node:crypto digests, so hashing a download (≈0.5 s per
 * GiB for sha256 even with SHA-NI) uses the second core instead of delaying the socket reads on the
 * main thread. Buffers are transferred, not copied: the caller gives up a buffer with `update` and
 * gets the same memory back through `release` once it is hashed.
 *
 * The worker never keeps the process alive on its own: it is referenced only while some buffer or
 * digest is in flight. If it cannot start or dies, {@link HashThread.shared} returns undefined and
 * callers hash on the main thread; streams open at that moment fail their digest.
 */

type Request =
  | { op: 'open'; id: number; algorithms: string[] }
  | { op: 'update'; id: number; buffer: ArrayBuffer; length: number }
  | { op: 'digest'; id: number }
  | { op: 'drop'; id: number }
  | { op: 'block'; id: number; algorithm: string; buffer: ArrayBuffer; offset: number; length: number }

type Reply =
  | { op: 'returned'; id: number; buffer: ArrayBuffer }
  | { op: 'digest'; id: number; digests: Record<string, string> }
  | { op: 'failed'; id: number; message: string }
  | { op: 'block'; id: number; buffer: ArrayBuffer; digest?: Uint8Array; message?: string }

/**
 * The worker's whole program; stringified, so it may only use what it requires itself. It
 * reaches `require` through globalThis (an eval worker has it there): a bundler rewrites a bare
 * `require(…)` into its own helper, which the worker doesn't have.
 */
function workerProgram(): void {
  const load = (globalThis as unknown as { require: NodeJS.Require }).require
  const { parentPort } = load('node:worker_threads') as typeof import('node:worker_threads')
  const { createHash } = load('node:crypto') as typeof import('node:crypto')
  const streams = new Map<number, Array<[string, import('node:crypto').Hash]>>()
  const port = parentPort!
  port.on('message', (m: Request) => {
    if (m.op === 'block') {
      // One message each way: the digest travels back with the buffer.
      let reply: Reply
      try {
        reply = { op: 'block', id: m.id, buffer: m.buffer, digest: createHash(m.algorithm).update(new Uint8Array(m.buffer, m.offset, m.length)).digest() }
      } catch (err) {
        reply = { op: 'block', id: m.id, buffer: m.buffer, message: err instanceof Error ? err.message : String(err) }
      }
      port.postMessage(reply, [m.buffer])
      return
    }
    try {
      if (m.op === 'open') streams.set(m.id, m.algorithms.map((a) => [a, createHash(a)]))
      else if (m.op === 'update') {
        const view = new Uint8Array(m.buffer, 0, m.length)
        for (const [, hash] of streams.get(m.id) ?? []) hash.update(view)
      } else if (m.op === 'digest') {
        const digests: Record<string, string> = {}
        for (const [name, hash] of streams.get(m.id) ?? []) digests[name] = hash.digest('hex')
        streams.delete(m.id)
        port.postMessage({ op: 'digest', id: m.id, digests } satisfies Reply)
      } else streams.delete(m.id)
    } catch (err) {
      streams.delete(m.id)
      port.postMessage({ op: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) } satisfies Reply)
    } finally {
      if (m.op === 'update') port.postMessage({ op: 'returned', id: m.id, buffer: m.buffer } satisfies Reply, [m.buffer])
    }
  })
}

/** A digest computed on the hash thread, fed in order. */
export class ThreadDigest {
  readonly #thread: HashThread
  readonly id: number
  /** Buffers given away, oldest first, with who gets each back. */
  readonly #inFlight: Array<{ buffer: Buffer; release: (b: Buffer) => void }> = []
  #result: { resolve: (d: Record<string, string>) => void; reject: (e: Error) => void } | undefined
  #failure: Error | undefined
  #finished = false

  constructor(thread: HashThread, id: number) {
    this.#thread = thread
    this.id = id
  }

  /**
   * Hashes `buffer[0, length)`. `buffer` must own its whole ArrayBuffer; it comes back via
   * `release`.
   */
  update(buffer: Buffer, length: number, release: (b: Buffer) => void): void {
    if (this.#failure !== undefined || this.#finished) {
      release(buffer)
      return
    }
    this.#inFlight.push({ buffer, release })
    this.#thread.post({ op: 'update', id: this.id, buffer: buffer.buffer as ArrayBuffer, length }, [buffer.buffer as ArrayBuffer])
  }

  /** The digests by node:crypto name, once every update before it is hashed. */
  digest(): Promise<Record<string, string>> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#finished) return Promise.reject(new Error('digest() called twice'))
    this.#finished = true
    return new Promise((resolve, reject) => {
      this.#result = { resolve, reject }
      this.#thread.post({ op: 'digest', id: this.id })
    })
  }

  /** Forgets the stream without a digest. */
  drop(): void {
    if (this.#finished) return
    this.#finished = true
    this.dropped = true
    this.#thread.post({ op: 'drop', id: this.id })
    this.#thread.settled(this)
  }

  /** @internal Dropped: forgotten once its buffers are back. */
  dropped = false

  /** @internal */
  onReply(reply: Reply): void {
    if (reply.op === 'returned') {
      const entry = this.#inFlight.shift()
      entry?.release(Buffer.from(reply.buffer))
      this.#thread.settled(this)
    } else if (reply.op === 'digest') {
      this.#result?.resolve(reply.digests)
      this.#result = undefined
      this.#thread.settled(this)
    } else this.fail(new Error(`hashing failed: ${reply.message}`))
  }

  /** @internal The thread died or the worker failed this stream. */
  fail(error: Error): void {
    this.#failure ??= error
    // The transferred buffers died with the thread: their (now empty) views go back so the pool
    // can make new ones.
    for (const entry of this.#inFlight.splice(0)) entry.release(entry.buffer)
    this.#result?.reject(error)
    this.#result = undefined
    this.#thread.settled(this)
  }

  /** @internal Whether something is in flight (keeps the thread referenced). */
  get busy(): boolean {
    return this.#inFlight.length > 0 || this.#result !== undefined
  }
}

export class HashThread {
  static #shared: HashThread | undefined
  static #unavailable = false

  readonly #worker: Worker
  readonly #streams = new Map<number, ThreadDigest>()
  #nextId = 1
  readonly #busy = new Set<ThreadDigest>()
  /** Blocks on the thread (see {@link digestBlock}), by id. */
  readonly #blocks = new Map<number, { resolve: (r: { digest: Uint8Array; buffer: ArrayBuffer }) => void; reject: (e: Error) => void }>()
  #dead = false

  private constructor(worker: Worker) {
    this.#worker = worker
    worker.on('message', (reply: Reply) => {
      if (reply.op === 'block') return this.#blockReply(reply)
      const stream = this.#streams.get(reply.id)
      if (stream === undefined) return
      if (reply.op !== 'returned') this.#streams.delete(reply.id)
      stream.onReply(reply)
    })
    // After the listener: adding a 'message' listener refs the worker's port again, which kept a
    // process alive forever after a download that failed before any byte was hashed.
    worker.unref()
    const die = (why: string): void => {
      if (this.#dead) return
      this.#dead = true
      HashThread.#shared = undefined
      HashThread.#unavailable = true
      const error = new Error(`the hashing thread stopped: ${why}`)
      for (const stream of [...this.#streams.values()]) stream.fail(error)
      this.#streams.clear()
      for (const block of this.#blocks.values()) block.reject(error)
      this.#blocks.clear()
    }
    worker.on('error', (err) => die(err.message))
    worker.on('exit', (code) => die(`exit code ${code}`))
  }

  /**
   * The process's hash thread, started on first use; undefined when the thread could not start
   * or died. (A caller that wants no thread does not ask: see the `hashThread` option.)
   */
  static shared(): HashThread | undefined {
    if (HashThread.#shared !== undefined) return HashThread.#shared
    if (HashThread.#unavailable) return undefined
    try {
      // None of node's arguments: inherited, `--input-type=module` (a `node -e` script) makes the
      // eval'd program a module, without the `require` it uses; given explicitly, a V8 or
      // process-wide flag (--max-semi-space-size…) makes the constructor throw. What the program
      // uses, node:crypto and the process's V8 flags, is the process's either way.
      // Loaded here, not at start-up: most small downloads never start the thread.
      const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
      HashThread.#shared = new HashThread(new Worker(`(${workerProgram.toString()})()`, { eval: true, name: 'haul-hash', execArgv: [] }))
    } catch {
      HashThread.#unavailable = true
    }
    return HashThread.#shared
  }

  /** Whether the process's hash thread has been started (and is alive), without starting it. */
  static get running(): boolean {
    return HashThread.#shared !== undefined
  }

  /** A new digest stream of node:crypto `algorithms` (names as createHash takes them). */
  open(algorithms: string[]): ThreadDigest {
    const id = this.#nextId++
    const stream = new ThreadDigest(this, id)
    this.#streams.set(id, stream)
    this.post({ op: 'open', id, algorithms })
    return stream
  }

  /** Nothing is in flight on the thread (then it is unreferenced: it never keeps the process alive). */
  get #idle(): boolean {
    return this.#busy.size === 0 && this.#blocks.size === 0
  }

  /**
   * One digest of `buffer`'s bytes [offset, offset + length), in one round trip: the buffer is
   * transferred (detached here) and comes back with the digest. Rejects when the thread dies
   * meanwhile (the bytes die with it) or the algorithm fails there.
   */
  digestBlock(algorithm: string, buffer: ArrayBuffer, offset: number, length: number): Promise<{ digest: Uint8Array; buffer: ArrayBuffer }> {
    if (this.#dead) return Promise.reject(new Error('the hashing thread stopped'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      if (this.#idle) this.#worker.ref()
      this.#blocks.set(id, { resolve, reject })
      this.#worker.postMessage({ op: 'block', id, algorithm, buffer, offset, length } satisfies Request, [buffer])
    })
  }

  #blockReply(reply: Extract<Reply, { op: 'block' }>): void {
    const block = this.#blocks.get(reply.id)
    if (block === undefined) return
    this.#blocks.delete(reply.id)
    if (this.#idle) this.#worker.unref()
    if (reply.digest !== undefined) block.resolve({ digest: reply.digest, buffer: reply.buffer })
    else block.reject(new Error(`hashing failed: ${reply.message ?? 'no digest'}`))
  }

  /** @internal */
  post(message: Request, transfer: ArrayBuffer[] = []): void {
    if (this.#dead) return
    this.#worker.postMessage(message, transfer)
    const stream = this.#streams.get(message.id)
    if (stream !== undefined && stream.busy && !this.#busy.has(stream)) {
      if (this.#idle) this.#worker.ref()
      this.#busy.add(stream)
    }
  }

  /** @internal Called when a stream's in-flight work changes. */
  settled(stream: ThreadDigest): void {
    if (stream.busy) return
    if (stream.dropped) this.#streams.delete(stream.id)
    if (this.#busy.delete(stream) && this.#idle) this.#worker.unref()
  }
}

/**
 * Starts the process's hash thread now rather than at its first digest, for a caller that knows
 * big digests follow (every block of an IPFS download is hashed against its CID): the worker's
 * start (≈ 40 ms of CPU, Node compiles its internals again for it) then runs on the core that is
 * idle while the main thread loads the driver, not during the transfer, when both are busy.
 * 256 MiB by CID, A/B over 8 alternating rounds: 0.77 → 0.735 s.
 */
export function startHashThread(): void {
  HashThread.shared()
}
