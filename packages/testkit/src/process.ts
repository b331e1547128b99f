import { spawn, type ChildProcess } from 'node:child_process'

/** How long a wait on a child may take before it rejects with the child's output. */
export const DEFAULT_CHILD_TIMEOUT_MS = 15_000

/** Options for {@link spawnChild} and {@link spawnNode}. */
export interface SpawnChildOptions {
  /** Variables set over the parent's environment; `undefined` removes one. @default {} */
  env?: Record<string, string | undefined>
  /** Working directory. @default process.cwd() */
  cwd?: string
  /** Default timeout for this child's waits. @default DEFAULT_CHILD_TIMEOUT_MS */
  timeoutMs?: number
  /** Name used in error messages. @default the command and arguments */
  label?: string
}

/** Options for a single wait. */
export interface WaitOptions {
  /** @default the child's timeout */
  timeoutMs?: number
}

/** How a child ended: `code` when it exited, `signal` when a signal killed it. */
export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Matches a stdout line: a substring, a regular expression, or a function. */
export type LineMatcher = string | RegExp | ((line: string) => boolean)

/** A parsed JSON line from stdout (lines that are not JSON objects are skipped). */
export type ChildEvent = Record<string, unknown>

interface Waiter {
  test(line: string): boolean
  what: string
  resolve(line: string): void
  fail(reason: string): void
}

const spawned = new Set<SpawnedChild>()

function describeMatcher(matcher: LineMatcher): string {
  return typeof matcher === 'function' ? 'a line passing the predicate' : `a line matching ${typeof matcher === 'string' ? JSON.stringify(matcher) : String(matcher)}`
}

function toTest(matcher: LineMatcher): (line: string) => boolean {
  if (typeof matcher === 'string') return (line) => line.includes(matcher)
  if (matcher instanceof RegExp) {
    return (line) => {
      matcher.lastIndex = 0 // a /g or /y expression would otherwise resume where it last matched
      return matcher.test(line)
    }
  }
  return matcher
}

function parseEvent(line: string): ChildEvent | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as ChildEvent) : undefined
  } catch {
    return undefined
  }
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`
}

/**
 * A running child process whose stdout is read line by line. Every wait is event-driven (it
 * settles when the awaited line arrives or the child closes), bounded by a timeout, and rejects
 * with the output collected so far, so a failing test says what the child did.
 */
export class SpawnedChild {
  /** The underlying process. */
  readonly process: ChildProcess
  /** Used in error messages. */
  readonly label: string
  readonly #timeoutMs: number
  readonly #lines: string[] = []
  readonly #waiters = new Set<Waiter>()
  #stdout = ''
  #stderr = ''
  #partial = ''
  #exit: ChildExit | undefined
  #spawnError: Error | undefined
  readonly #closed: Promise<ChildExit>

  constructor(command: string, args: readonly string[], options: SpawnChildOptions = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key]
      else env[key] = value
    }
    this.label = options.label ?? [command, ...args].join(' ')
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_CHILD_TIMEOUT_MS
    this.process = spawn(command, args, { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    this.process.stdout?.setEncoding('utf8')
    this.process.stderr?.setEncoding('utf8')
    this.process.stdout?.on('data', (chunk: string) => this.#onStdout(chunk))
    this.process.stderr?.on('data', (chunk: string) => {
      this.#stderr += chunk
    })
    // A child that exits before reading its stdin makes writes fail with EPIPE; that is not news.
    this.process.stdin?.on('error', () => undefined)
    spawned.add(this)
    this.#closed = new Promise((resolve) => {
      this.process.on('error', (err) => {
        // Without a pid it never started; with one, a signal could not be sent (it is gone).
        if (this.process.pid !== undefined) return
        this.#spawnError = err
        this.#settle({ code: null, signal: null }, resolve)
      })
      // 'close' comes after 'exit' once stdout and stderr are drained: all output is in.
      this.process.once('close', (code, signal) => this.#settle({ code, signal }, resolve))
    })
  }

  /** The child's process id (undefined if it failed to spawn). */
  get pid(): number | undefined {
    return this.process.pid
  }

  /** Everything the child wrote to stdout so far. */
  get stdout(): string {
    return this.#stdout
  }

  /** Everything the child wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr
  }

  /** Complete stdout lines so far. */
  get lines(): readonly string[] {
    return this.#lines
  }

  /** Stdout lines that are JSON objects, parsed. */
  get events(): ChildEvent[] {
    return this.#lines.map(parseEvent).filter((event) => event !== undefined)
  }

  /** How the child ended, once it has (and its output is drained); undefined while it runs. */
  get exitStatus(): ChildExit | undefined {
    return this.#exit
  }

  /**
   * Resolves with the first stdout line (since the start, so a line printed before the call
   * counts) that matches. Rejects when the child closes without printing one, or on timeout.
   */
  waitForLine(matcher: LineMatcher, options: WaitOptions = {}): Promise<string> {
    return this.#waitFor(toTest(matcher), describeMatcher(matcher), options)
  }

  /**
   * Resolves with the first JSON-object line for which `predicate` is true (see
   * {@link waitForLine}). A string predicate matches the line's `event` field.
   */
  async waitForEvent<T extends ChildEvent = ChildEvent>(predicate: string | ((event: ChildEvent) => boolean), options: WaitOptions = {}): Promise<T> {
    const test = typeof predicate === 'string' ? (event: ChildEvent) => event.event === predicate : predicate
    const what = typeof predicate === 'string' ? `a JSON line with event ${JSON.stringify(predicate)}` : 'a JSON line passing the predicate'
    const line = await this.#waitFor(
      (candidate) => {
        const event = parseEvent(candidate)
        return event !== undefined && test(event)
      },
      what,
      options,
    )
    return parseEvent(line) as T
  }

  /** Resolves with how the child ended; rejects on timeout (the child is left running). */
  waitForExit(options: WaitOptions = {}): Promise<ChildExit> {
    if (this.#exit !== undefined) return Promise.resolve(this.#exit)
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.#failure(`did not exit within ${timeoutMs} ms`)), timeoutMs)
      void this.#closed.then((exit) => {
        clearTimeout(timer)
        resolve(exit)
      })
    })
  }

  /** Writes `line` and a newline to the child's stdin. */
  send(line: string): void {
    this.process.stdin?.write(`${line}\n`)
  }

  /** Closes the child's stdin (it reads end-of-file). */
  closeStdin(): void {
    this.process.stdin?.end()
  }

  /**
   * Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGINT, SIGTERM…). Returns false when the child
   * is already gone.
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.#exit !== undefined || this.process.exitCode !== null || this.process.signalCode !== null) return false
    return this.process.kill(signal)
  }

  /** SIGKILL, then waits for the child to close. */
  async kill(options: WaitOptions = {}): Promise<ChildExit> {
    this.signal('SIGKILL')
    return this.waitForExit(options)
  }

  #waitFor(test: (line: string) => boolean, what: string, options: WaitOptions): Promise<string> {
    const seen = this.#lines.find(test)
    if (seen !== undefined) return Promise.resolve(seen)
    if (this.#exit !== undefined) return Promise.reject(this.#failure(`closed (${this.#describeExit()}) without printing ${what}`))
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => waiter.fail(`did not print ${what} within ${timeoutMs} ms`), timeoutMs)
      const waiter: Waiter = {
        test,
        what,
        resolve: (line) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          resolve(line)
        },
        fail: (reason) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          reject(this.#failure(reason))
        },
      }
      this.#waiters.add(waiter)
    })
  }

  #onStdout(chunk: string): void {
    this.#stdout += chunk
    const parts = (this.#partial + chunk).split('\n')
    this.#partial = parts.pop() ?? ''
    for (const line of parts) this.#onLine(line)
  }

  #onLine(line: string): void {
    this.#lines.push(line)
    for (const waiter of [...this.#waiters]) if (waiter.test(line)) waiter.resolve(line)
  }

  #settle(exit: ChildExit, resolve: (exit: ChildExit) => void): void {
    if (this.#exit !== undefined) return
    if (this.#partial !== '') this.#onLine(this.#partial)
    this.#partial = ''
    this.#exit = exit
    spawned.delete(this)
    for (const waiter of [...this.#waiters]) waiter.fail(`closed (${this.#describeExit()}) without printing ${waiter.what}`)
    resolve(exit)
  }

  #describeExit(): string {
    if (this.#spawnError !== undefined) return `failed to spawn: ${this.#spawnError.message}`
    const exit = this.#exit
    if (exit === undefined) return 'running'
    return exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${String(exit.code)}`
  }

  #failure(reason: string): Error {
    return new Error(`${this.label} (pid ${String(this.pid)}) ${reason}.\n--- stdout ---\n${tail(this.#stdout)}\n--- stderr ---\n${tail(this.#stderr)}`)
  }
}

/** Spawns `command` with its stdio piped; see {@link SpawnedChild}. */
export function spawnChild(command: string, args: readonly string[] = [], options: SpawnChildOptions = {}): SpawnedChild {
  return new SpawnedChild(command, args, options)
}

/** Runs a Node.js script (e.g. a test fixture or the haul CLI) with the current Node binary. */
export function spawnNode(script: string, args: readonly string[] = [], options: SpawnChildOptions = {}): SpawnedChild {
  return new SpawnedChild(process.execPath, [script, ...args], { label: `node ${script} ${args.join(' ')}`.trimEnd(), ...options })
}

/**
 * SIGKILLs every child spawned by this module that is still running (stopped ones included)
 * and waits for them to close. Call it in `afterEach`.
 */
export async function killChildren(options: WaitOptions = {}): Promise<void> {
  await Promise.allSettled([...spawned].map((child) => child.kill(options)))
}
