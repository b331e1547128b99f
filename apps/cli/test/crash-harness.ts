// Crash and fault injection against the real `haul get` process.
//
// A trial starts haul through fixtures/traced-haul.mjs, which loads every module and prints
// {"event":"ready"}; strace then attaches (-f -p) and the trial says "go". So syscall counting
// starts with the download, not with Node loading 300 modules. strace's `when=K` counter is per
// thread, so each syscall of the transaction must be made on one thread: UV_THREADPOOL_SIZE=1
// puts the asynchronous ones (creates, renames, unlinks, fsyncs) on one libuv thread, and on a
// local filesystem every write is made in the call, on the main thread; so "the K-th pwrite64"
// means the K-th write of the download. After each injection
// the trial checks the destination (absent, the previous file, or the whole new file — never
// anything else), runs haul again untraced, and measures what the kill cost in re-fetched bytes.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_WRITE_BUFFER_BYTES, resolveOptions } from '@haul/core'
import { killChildren, startGateway, startOrigin, spawnChild, spawnNode, UnixfsStore, type ChildEvent, type ChildExit, type Origin, type SpawnedChild, type TestGateway } from '@haul/testkit'

export const MiB = 1024 * 1024
const launcher = fileURLToPath(new URL('./fixtures/traced-haul.mjs', import.meta.url))
export const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/**
 * The most a kill may cost, in bytes that had reached the staging file but that the next run
 * does not trust. Per connection: the journal record that was queued but not written (one
 * checkpoint, which may overshoot by a batch), the writes queued behind it (the write buffer),
 * and the batch being filled. Computed from core's defaults, so it follows them; the summary
 * JSON records the value a run used.
 */
export function lossBound(connections: number): number {
  // The sizes core derives for this many connections: the checkpoint and the write batch (one buffer).
  const { checkpointBytes, bufferBytes } = resolveOptions({ output: 'loss-bound', connections })
  return connections * (checkpointBytes + DEFAULT_WRITE_BUFFER_BYTES + 2 * bufferBytes)
}

/** Whether strace can attach and inject here (ptrace may be forbidden in a container). */
export function straceAvailable(): { ok: boolean; reason: string } {
  try {
    execFileSync('strace', ['-V'], { stdio: 'pipe' })
  } catch {
    return { ok: false, reason: 'strace is not installed (apt-get install strace)' }
  }
  try {
    execFileSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'inject=getpid:error=EPERM', 'true'], { stdio: 'pipe' })
    return { ok: true, reason: '' }
  } catch (err) {
    return { ok: false, reason: `strace cannot trace here: ${(err as Error).message.split('\n')[0]}` }
  }
}

/** strace, installed with apt-get when missing and running as root (CI images may lack it). */
export function ensureStrace(): { ok: boolean; reason: string } {
  const found = straceAvailable()
  if (found.ok || process.getuid?.() !== 0) return found
  try {
    execFileSync('sh', ['-c', 'command -v apt-get >/dev/null && (apt-get install -y strace || (apt-get update && apt-get install -y strace))'], { stdio: 'inherit', timeout: 300_000 })
  } catch {
    // reported by the check below
  }
  return straceAvailable()
}

/** One source of one file that trials download again and again. */
export interface Scenario {
  name: string
  connections: number
  content: Buffer
  sha256: string
  /** `haul get` arguments for a destination. */
  argv(dest: string): string[]
  /** Body bytes the server sent so far. */
  bytesSent(): number
  close(): Promise<void>
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

export async function httpScenario(size: number, connections: number, rateBytesPerSecond?: number, withDigest = true): Promise<Scenario & { origin: Origin }> {
  const content = randomBytes(size)
  const origin = await startOrigin({ files: { '/f.bin': content }, lifetimeMs: 3_600_000, ...(rateBytesPerSecond === undefined ? {} : { rateBytesPerSecond }) })
  const digest = sha256(content)
  return {
    name: `http -x ${connections}${withDigest ? '' : ' (no digest)'}`,
    connections,
    content,
    sha256: digest,
    origin,
    argv: (dest) => ['get', origin.url('/f.bin'), '-o', dest, ...(withDigest ? ['--sha256', digest] : []), '-x', String(connections), '--retries', '2', '--json'],
    bytesSent: () => origin.bytesSent(),
    close: () => origin.close(),
  }
}

export async function ipfsScenario(size: number, rateBytesPerSecond?: number): Promise<Scenario & { gateway: TestGateway }> {
  const content = randomBytes(size)
  const store = new UnixfsStore()
  const cid = await store.addFile(content)
  const gateway = await startGateway({ store, lifetimeMs: 3_600_000, ...(rateBytesPerSecond === undefined ? {} : { fault: { rateBytesPerSecond } }) })
  return {
    name: 'ipfs',
    connections: 1,
    content,
    sha256: sha256(content),
    gateway,
    argv: (dest) => ['get', `ipfs://${cid.toString()}`, '-o', dest, '--gateway', gateway.url, '--retries', '2', '--json'],
    bytesSent: () => gateway.bytesSent(),
    close: () => gateway.close(),
  }
}

export type InjectAction = 'KILL' | 'EIO' | 'ENOSPC' | 'EACCES'

export interface Injection {
  syscall: string
  /** strace's `when=K`: the K-th such call of a thread. */
  k: number
  action: InjectAction
}

/** What the destination held after the faulty run. */
export type DestinationState = 'absent' | 'previous' | 'new' | 'corrupt'

export interface TrialResult {
  scenario: string
  fault: string
  /** Whether the fault fired (false: the download finished before the K-th call). */
  fired: boolean
  /** What the injected call touched, from strace -y (a path, `pipe`, `eventfd`…). */
  target?: string
  /** What other threads' K-th calls, failed at the same time, touched (stdout, an eventfd…). */
  alsoInjected?: string[]
  exit: ChildExit
  errorCode?: string
  message?: string
  destination: DestinationState
  /** Whether an older file was at the destination before the run. */
  hadPrevious: boolean
  /** Staged bytes on disk after the faulty run (allocated blocks of every writer's data file). */
  stagedBytes: number
  /** Whether a writer's staging directory (partial + journal) survived the faulty run. */
  stageKept: boolean
  resumeExit?: ChildExit
  /** The next run's error message, when it failed. */
  resumeMessage?: string
  resumedFrom?: number
  /** Staged bytes that the next run did not trust and fetched again. */
  lostBytes?: number
  /**
   * Body bytes the server sent over both runs beyond one copy of the file. Includes what sat in
   * the kernel's socket buffers when the process died, which haul never received.
   */
  refetchedBytes?: number
  /** Bytes the resume run fetched beyond the part it was missing (CAR framing, block alignment). */
  resumeExcessBytes?: number
  /** What was left in the folder after the resume run besides the destination. */
  leftovers: string[]
  /** Set when a run did not end in time (the trial was abandoned). */
  hung?: string
}

export function describeInjection(i: Injection): string {
  return `${i.syscall}:${i.action === 'KILL' ? 'signal=KILL' : `error=${i.action}`}:when=${i.k}`
}

async function classify(dest: string, scenario: Scenario, previous: Buffer | undefined): Promise<DestinationState> {
  if (!existsSync(dest)) return 'absent'
  const bytes = await readFile(dest)
  if (bytes.equals(scenario.content)) return 'new'
  if (previous !== undefined && bytes.equals(previous)) return 'previous'
  return 'corrupt'
}

/** Allocated bytes of every writer's partial for `dest` (a sparse file counts what was written). */
async function stagedBytes(dest: string): Promise<{ bytes: number; kept: boolean }> {
  const root = join(dest, '..', `.${dest.split('/').at(-1)!}.haul`)
  let names: string[]
  try {
    names = await readdir(root)
  } catch {
    return { bytes: 0, kept: false }
  }
  let bytes = 0
  let kept = false
  for (const name of names.filter((n) => n.startsWith('w.'))) {
    kept = true
    // A writer's folder holds its `data`; a lone partial (`w.….part`, no journal yet) is the data.
    const st = await stat(name.endsWith('.part') ? join(root, name) : join(root, name, 'data')).catch(() => undefined)
    if (st !== undefined) bytes += Math.min(st.size, st.blocks * 512)
  }
  return { bytes, kept }
}

/** Calls whose first string argument names the file they act on. */
const PATH_SYSCALLS = new Set(['openat', 'open', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'rmdir', 'mkdir', 'mkdirat'])

/** The syscall line strace marked as injected (or the last one of the killed thread). */
function injectedCall(trace: string, syscall: string): { fired: boolean; target?: string; others?: string[] } {
  const lines = trace.split('\n')
  const injected = lines.filter((l) => l.includes('(INJECTED)'))
  const marked = injected.find((l) => l.includes('.haul/') || l.includes('out.bin')) ?? injected[0]
  let line = marked
  if (line === undefined) {
    if (!lines.some((l) => l.includes('+++ killed by SIGKILL'))) return { fired: false }
    // The process dies at the injected call, so it is the last of its kind in the trace.
    line = lines.findLast((l) => l.includes(`${syscall}(`))
  }
  if (line === undefined) return { fired: true }
  const path = PATH_SYSCALLS.has(syscall) ? /"([^"]*)"/.exec(line)?.[1] : undefined
  const fd = /\((\d+)<([^>]*)>/.exec(line)?.[2]
  // strace counts per thread: other threads may have had their K-th call failed too.
  const others = injected.filter((l) => l !== line).map((l) => /\((\d+)<([^>]*)>/.exec(l)?.[2] ?? l.slice(0, 60))
  return { fired: true, target: path ?? fd ?? line.slice(0, 80), ...(others.length > 0 ? { others } : {}) }
}

export interface TrialOptions {
  /** A file already at the destination, which a failed run must leave as it was. */
  previous?: Buffer
  /** Folder to create the trial's directory in. @default os.tmpdir() */
  base?: string
  /** Skip the resume run (e.g. the fault is permanent). */
  noResume?: boolean
}

async function attachStrace(child: SpawnedChild, injection: Injection, traceFile: string): Promise<SpawnedChild> {
  const inject = describeInjection(injection)
  const tracer = spawnChild('strace', ['-f', '-y', '-o', traceFile, '-e', `trace=${injection.syscall}`, '-e', `inject=${inject}`, '-p', String(child.pid)], { label: `strace ${inject}` })
  // strace says "Process N attached with M threads" once every thread is seized.
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (/Process \d+ attached/.test(tracer.stderr)) {
        tracer.process.stderr?.off('data', check)
        resolve()
      }
    }
    tracer.process.stderr?.on('data', check)
    check()
    void tracer.waitForExit({ timeoutMs: 30_000 }).then(
      () => reject(new Error(`strace ended before attaching: ${tracer.stderr}`)),
      () => undefined,
    )
  })
  return tracer
}

/** Runs haul once with `injection`, checks the destination, then resumes and measures. */
export async function runTrial(scenario: Scenario, injection: Injection, options: TrialOptions = {}): Promise<TrialResult> {
  const dir = await mkdtemp(join(options.base ?? tmpdir(), 'haul-crash-'))
  const traceFile = `${dir}.trace`
  try {
    const dest = join(dir, 'out.bin')
    if (options.previous !== undefined) await writeFile(dest, options.previous)
    const sentBefore = scenario.bytesSent()
    const child = spawnNode(launcher, scenario.argv(dest), { cwd: dir, env: { UV_THREADPOOL_SIZE: '1' }, timeoutMs: 25_000 })
    await child.waitForEvent('ready')
    const tracer = await attachStrace(child, injection, traceFile)
    child.send('go')
    const exit = await child.waitForExit()
    await tracer.waitForExit({ timeoutMs: 30_000 })
    const trace = await readFile(traceFile, 'utf8').catch(() => '')
    const { fired, target, others } = injectedCall(trace, injection.syscall)
    const error = child.events.findLast((e) => e.event === 'error') as (ChildEvent & { code?: string; message?: string }) | undefined
    const destination = await classify(dest, scenario, options.previous)
    const staged = await stagedBytes(dest)
    const result: TrialResult = {
      scenario: scenario.name,
      fault: describeInjection(injection),
      fired,
      ...(target === undefined ? {} : { target: target === dir ? '.' : target.startsWith(`${dir}/`) ? target.slice(dir.length + 1) : target }),
      ...(others === undefined ? {} : { alsoInjected: others }),
      exit,
      ...(error?.code === undefined ? {} : { errorCode: error.code }),
      ...(error?.message === undefined ? {} : { message: error.message }),
      destination,
      hadPrevious: options.previous !== undefined,
      stagedBytes: staged.bytes,
      stageKept: staged.kept,
      leftovers: [],
    }
    if (!options.noResume) await resume(scenario, dest, dir, sentBefore, result)
    return result
  } finally {
    await rm(dir, { recursive: true, force: true })
    await rm(traceFile, { force: true })
  }
}

/** Runs haul again, untraced: it must finish, and what it fetched again is measured. */
async function resume(scenario: Scenario, dest: string, dir: string, sentBefore: number, result: TrialResult): Promise<void> {
  const sentBeforeResume = scenario.bytesSent()
  const again = spawnNode(bin, scenario.argv(dest), { cwd: dir, timeoutMs: 25_000 })
  result.resumeExit = await again.waitForExit()
  const failed = again.events.findLast((e) => e.event === 'error')
  if (failed !== undefined) result.resumeMessage = String(failed.message)
  const start = again.events.find((e) => e.event === 'start') as (ChildEvent & { resumedFrom?: number }) | undefined
  result.resumedFrom = start?.resumedFrom ?? (again.events.some((e) => e.event === 'done' && e.cached === true) ? scenario.content.length : 0)
  result.lostBytes = Math.max(0, result.stagedBytes - result.resumedFrom)
  const sentByResume = scenario.bytesSent() - sentBeforeResume
  result.refetchedBytes = scenario.bytesSent() - sentBefore - scenario.content.length
  result.resumeExcessBytes = sentByResume - (scenario.content.length - result.resumedFrom)
  if (result.resumeExit.code === 0 && (await classify(dest, scenario, undefined)) !== 'new') result.destination = 'corrupt'
  result.leftovers = (await readdir(dir)).filter((n) => n !== 'out.bin')
}

/** A kill at a random moment of an untraced run: after a random share of the bytes arrived. */
export async function runRandomKill(scenario: Scenario, fraction: number, options: TrialOptions = {}): Promise<TrialResult> {
  const dir = await mkdtemp(join(options.base ?? tmpdir(), 'haul-kill-'))
  try {
    const dest = join(dir, 'out.bin')
    if (options.previous !== undefined) await writeFile(dest, options.previous)
    const sentBefore = scenario.bytesSent()
    const child = spawnNode(bin, scenario.argv(dest), { cwd: dir, timeoutMs: 25_000 })
    const threshold = Math.floor(scenario.content.length * fraction)
    await child
      .waitForEvent((e) => (e.event === 'progress' && typeof e.bytes === 'number' && e.bytes >= threshold) || e.event === 'done')
      .catch(() => undefined)
    const exit = await child.kill()
    const staged = await stagedBytes(dest)
    const result: TrialResult = {
      scenario: scenario.name,
      fault: `SIGKILL at ${(fraction * 100).toFixed(0)}%`,
      fired: exit.signal === 'SIGKILL',
      exit,
      destination: await classify(dest, scenario, options.previous),
      hadPrevious: options.previous !== undefined,
      stagedBytes: staged.bytes,
      stageKept: staged.kept,
      leftovers: [],
    }
    await resume(scenario, dest, dir, sentBefore, result)
    return result
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Every trial of this process, for the summary. */
export const trials: TrialResult[] = []

/** Expected exit status for an injected error on a file of the transaction. */
export function expectedExit(action: InjectAction): number | undefined {
  if (action === 'EIO' || action === 'EACCES') return 6
  if (action === 'ENOSPC') return 5
  return undefined
}

/** Whether an injected call touched the download's own files (not a pipe, eventfd or module). */
export function targetsDownload(result: TrialResult): boolean {
  const t = result.target
  return t !== undefined && (t === '.' || t.startsWith('out.bin') || t.startsWith('.out.bin.haul'))
}

/** Sums trials up, per fault kind, for FAULTS.md. */
export function summarize(results: readonly TrialResult[]): Record<string, unknown> {
  const groups = new Map<string, TrialResult[]>()
  for (const r of results) {
    const key = `${r.scenario} | ${r.fault.replace(/:when=\d+$/, '').replace(/ at \d+%$/, ' at random')}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  const rows = [...groups].map(([key, rs]) => {
    const exits: Record<string, number> = {}
    for (const r of rs.filter((r) => r.fired)) {
      const k = r.exit.signal ?? String(r.exit.code)
      exits[k] = (exits[k] ?? 0) + 1
    }
    return {
      key,
      trials: rs.length,
      fired: rs.filter((r) => r.fired).length,
      // An abandoned (hung) trial's destination was never inspected: it counts as hung only.
      corruptCommits: rs.filter((r) => r.hung === undefined && r.destination === 'corrupt').length,
      filesLost: rs.filter((r) => r.hung === undefined && r.hadPrevious && r.destination === 'absent').length,
      resumeFailures: rs.filter((r) => r.resumeExit !== undefined && r.resumeExit.code !== 0).length,
      hangs: rs.filter((r) => r.hung !== undefined).length,
      leftBehind: rs.filter((r) => r.leftovers.length > 0).length,
      exits,
      maxLostBytes: Math.max(0, ...rs.map((r) => r.lostBytes ?? 0)),
      maxRefetchedBytes: Math.max(0, ...rs.map((r) => r.refetchedBytes ?? 0)),
      maxResumeExcessBytes: Math.max(0, ...rs.map((r) => r.resumeExcessBytes ?? 0)),
    }
  })
  return { generatedAt: new Date().toISOString(), trials: results.length, rows }
}

/** Stops every child a test file spawned and closes its scenarios' servers (for afterAll). */
export async function closeScenarios(scenarios: readonly Scenario[]): Promise<void> {
  await killChildren()
  await Promise.all(scenarios.map((s) => s.close()))
}

/** Writes the JSON summary of every trial of a sweep (what FAULTS.md's tables are made from). */
export async function writeSummary(path: string, run: { started: number; fileBytes: number; strace: { ok: boolean; reason: string } }): Promise<void> {
  const extra = {
    runtimeSeconds: Math.round((Date.now() - run.started) / 1000),
    fileBytes: run.fileBytes,
    lossBoundBytes: { 'http -x 1': lossBound(1), 'http -x 4': lossBound(4), ipfs: lossBound(1) },
    strace: run.strace.ok ? 'used' : run.strace.reason,
  }
  await mkdir(join(path, '..'), { recursive: true })
  await writeFile(path, `${JSON.stringify({ ...summarize(trials), ...extra }, null, 2)}\n`)
  console.log(`fault summary written to ${path}`)
}

/** Keys of the trials whose fault fired on a call that is not the download's (see `targetsDownload`). */
export function describeTrial(r: TrialResult): string {
  return `${r.scenario} ${r.fault} → ${r.exit.signal ?? r.exit.code} on ${r.target ?? '?'}, destination ${r.destination}, staged ${r.stagedBytes}, resumed from ${r.resumedFrom ?? '-'}`
}

/**
 * The invariants every trial must keep, as a list of violations (empty when it held):
 * the destination is absent, the previous file, or the whole new file; an older file is never
 * lost; the next run finishes with the whole file and a clean folder; a kill costs at most
 * {@link lossBound} staged bytes; an injected I/O error gives its exit status, and an fsync
 * error discards the staged bytes.
 */
export function violations(r: TrialResult, injection: Injection | undefined, connections: number): string[] {
  const out: string[] = []
  if (r.hung !== undefined) return [`a run did not finish: ${r.hung}`]
  if (r.destination === 'corrupt') out.push('the destination holds bytes that are neither the old nor the new file')
  if (r.hadPrevious && r.destination === 'absent') out.push('the previous file was lost')
  if (r.resumeExit !== undefined) {
    if (r.resumeExit.code !== 0) out.push(`the next run ended with ${r.resumeExit.signal ?? r.resumeExit.code}${r.resumeMessage === undefined ? '' : ` (${r.resumeMessage})`}`)
    if (r.leftovers.length > 0) out.push(`left behind: ${r.leftovers.join(', ')}`)
    // The bound is for kills; an I/O error on the journal stops its records, by design, until the end.
    if ((injection === undefined || injection.action === 'KILL') && (r.lostBytes ?? 0) > lossBound(connections)) out.push(`a kill cost ${r.lostBytes} staged bytes (bound ${lossBound(connections)})`)
    if (connections === 1 && (r.resumeExcessBytes ?? 0) > 2 * MiB) out.push(`the next run fetched ${r.resumeExcessBytes} bytes more than it was missing`)
  }
  // Only an error that hit the download's own file alone says which exit status is due.
  if (injection !== undefined && injection.action !== 'KILL' && r.fired && targetsDownload(r) && r.alsoInjected === undefined) {
    const afterCommit = r.target === '.' // the directory fsync: the verified file is in place already
    const expected = expectedExit(injection.action)
    if (r.exit.code !== expected && r.exit.code !== 0) out.push(`exit ${r.exit.signal ?? r.exit.code}, expected ${expected}`)
    if (r.exit.code !== 0 && r.errorCode === undefined) out.push('no error event')
    if (r.exit.code !== 0 && !afterCommit && r.destination === 'new') out.push('a failed run replaced the destination')
    if (injection.syscall === 'fsync' && r.exit.code !== 0 && r.stageKept) out.push('the staged bytes survived an fsync error (they must be discarded)')
  }
  return out
}

export interface SweepOptions extends TrialOptions {
  /** Try K = first, first + stride, … @default 1 */
  stride?: number
  /** @default 1 */
  first?: number
  /** Never try beyond this K (a bound on the loop). @default 400 */
  maxK?: number
  /** Pass an older file at the destination on every other trial. */
  alternatePrevious?: Buffer
}

/**
 * Injects `action` at K = first, first + stride, … of `syscall` until a run finishes before its
 * K-th call (so every call of the download was tried once), or `maxK`. Returns every trial with
 * the invariants it broke.
 */
export async function sweep(scenario: Scenario, syscall: string, action: InjectAction, options: SweepOptions = {}): Promise<Array<{ result: TrialResult; broken: string[] }>> {
  const out: Array<{ result: TrialResult; broken: string[] }> = []
  const stride = options.stride ?? 1
  for (let k = options.first ?? 1, n = 0; k <= (options.maxK ?? 400); k += stride, n++) {
    const injection: Injection = { syscall, k, action }
    const previous = options.alternatePrevious !== undefined && n % 2 === 1 ? options.alternatePrevious : options.previous
    let result: TrialResult
    try {
      result = await runTrial(scenario, injection, { ...options, ...(previous === undefined ? {} : { previous }) })
    } catch (err) {
      // A run that hangs (or a tracer that fails) is a finding too: record it and go on.
      await killChildren()
      const message = (err as Error).message.split('\n')[0] ?? ''
      result = { scenario: scenario.name, fault: describeInjection(injection), fired: true, exit: { code: null, signal: null }, destination: 'absent', hadPrevious: previous !== undefined, stagedBytes: 0, stageKept: false, leftovers: [], hung: message }
    }
    trials.push(result)
    out.push({ result, broken: violations(result, injection, scenario.connections) })
    if (!result.fired) break
  }
  return out
}

/** The broken invariants of a sweep, one line per trial that broke any. */
export function failures(results: ReadonlyArray<{ result: TrialResult; broken: string[] }>): string[] {
  return results.filter((r) => r.broken.length > 0).map((r) => `${describeTrial(r.result)}: ${r.broken.join('; ')}`)
}

/** Mounts a tmpfs (root only, where the container allows it); undefined with a reason otherwise. */
export async function mountTmpfs(options: string): Promise<{ path: string; unmount(): Promise<void> } | { skip: string }> {
  const path = await mkdtemp(join(tmpdir(), 'haul-mnt-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', path], { stdio: 'pipe' })
  } catch (err) {
    await rm(path, { recursive: true, force: true })
    return { skip: `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})` }
  }
  return {
    path,
    async unmount() {
      execFileSync('umount', ['-l', path], { stdio: 'pipe' })
      await rm(path, { recursive: true, force: true })
    },
  }
}
