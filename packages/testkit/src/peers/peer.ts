import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { findBinary } from '../binary.js'
import { closedPort } from '../http-origin.js'
import { apache } from './apache.js'
import { caddy } from './caddy.js'
import { startCountingProxy, type CountingProxy } from './counting-proxy.js'
import { Docroot } from './docroot.js'
import { lighttpd, lighttpdMinimal } from './lighttpd.js'
import { nginx } from './nginx.js'
import { pythonHttp } from './python-http.js'
import type { PeerKind, PeerRecipe } from './recipe.js'

/** How long a peer may take to answer its first request. */
export const DEFAULT_PEER_START_TIMEOUT_MS = 10_000
/** A peer (and its proxy) stops itself after this long, so nothing outlives a test run. */
export const DEFAULT_PEER_LIFETIME_MS = 15 * 60_000
/** How long stop() waits for the server to exit after SIGTERM before it SIGKILLs it. */
const STOP_GRACE_MS = 5_000
/** A port taken between probing and binding makes the server exit; it is tried again this often. */
const START_ATTEMPTS = 3

const RECIPES: Record<PeerKind, PeerRecipe> = {
  nginx,
  apache,
  lighttpd,
  'lighttpd-minimal': lighttpdMinimal,
  caddy,
  'python-http': pythonHttp,
}

/** Options for {@link startPeer}. */
export interface PeerOptions {
  /** The folder to serve. @default a fresh temp folder, removed by stop() */
  docroot?: Docroot
  /** Passed to the counting proxy in front of the server. @default undefined (unlimited) */
  rateBytesPerSecond?: number
  /** @default DEFAULT_PEER_START_TIMEOUT_MS */
  startTimeoutMs?: number
  /** @default DEFAULT_PEER_LIFETIME_MS */
  lifetimeMs?: number
}

/** A real server on 127.0.0.1 serving a docroot the test controls, behind a counting proxy. */
export interface Peer {
  readonly kind: PeerKind
  readonly docroot: Docroot
  /** The server itself: `http://127.0.0.1:PORT` (not counted, not paced). */
  readonly direct: string
  /** The counting (and optionally pacing) proxy in front of it; tests download through it. */
  readonly proxy: CountingProxy
  /** The URL of `path` through the proxy. */
  url(path: string): string
  /**
   * Resolves once a request to `path` (sent directly, not counted) answers with a body that
   * starts with `prefix`: the server's own caches (lighttpd's stat cache) now serve what the
   * docroot holds. Bounded by `timeoutMs`.
   */
  waitServes(path: string, prefix: Uint8Array, timeoutMs?: number): Promise<void>
  /** Stops the server and the proxy, and removes the files the harness made. Idempotent. */
  stop(): Promise<void>
}

/** The absolute path of the executable `kind` needs, or undefined when it is not installed. */
export function peerBinary(kind: PeerKind): string | undefined {
  return findBinary(RECIPES[kind].binary)
}

/** Why a peer test is skipped, or undefined when it can run: for `describe.skipIf` names. */
export function peerMissing(kind: PeerKind): string | undefined {
  const recipe = RECIPES[kind]
  return peerBinary(kind) === undefined ? `${recipe.binary} is not installed (apt-get install ${recipe.aptPackage})` : undefined
}

/**
 * Starts a real server (`kind`) on a free 127.0.0.1 port with a config written to a private temp
 * folder (no system config, no root-owned paths), as the current user, and a counting proxy in
 * front of it. Resolves once the server answers a request. The server runs under a small shell
 * that stops it when this process's end of its stdin closes, so it dies with the test run even
 * when the test is killed; `lifetimeMs` bounds its life while the test runs.
 */
export async function startPeer(kind: PeerKind, options: PeerOptions = {}): Promise<Peer> {
  const recipe = RECIPES[kind]
  const bin = peerBinary(kind)
  if (bin === undefined) throw new Error(`${kind}: ${peerMissing(kind)}`)
  const ownsDocroot = options.docroot === undefined
  const docroot = options.docroot ?? (await Docroot.create())
  const workDir = await mkdtemp(join(tmpdir(), `haul-peer-${kind}-`))
  const lifetimeMs = options.lifetimeMs ?? DEFAULT_PEER_LIFETIME_MS
  let server: (RunningServer & { port: number }) | undefined
  let failure = ''
  try {
    for (let attempt = 1; attempt <= START_ATTEMPTS && server === undefined; attempt++) {
      const port = await closedPort()
      const launch = recipe.launch({ bin, port, docroot: docroot.path, workDir, root: process.getuid?.() === 0 })
      for (const [path, text] of Object.entries(launch.files)) await writeFile(path, text)
      const running = runServer(launch.command, launch.args, launch.env ?? {}, lifetimeMs)
      const ready = await waitReady(`http://127.0.0.1:${port}`, running, options.startTimeoutMs ?? DEFAULT_PEER_START_TIMEOUT_MS)
      if (ready) server = { ...running, port }
      else {
        await running.stop()
        failure = `${running.output()}${launch.logFile === undefined ? '' : readLog(launch.logFile)}`
      }
    }
    if (server === undefined) throw new Error(`${kind} (${bin}) did not start on 127.0.0.1 after ${START_ATTEMPTS} attempts:\n${failure}`)
  } catch (err) {
    await rm(workDir, { recursive: true, force: true })
    if (ownsDocroot) await docroot.remove()
    throw err
  }
  const running = server
  const proxy = await startCountingProxy({ targetPort: running.port, lifetimeMs, ...(options.rateBytesPerSecond === undefined ? {} : { rateBytesPerSecond: options.rateBytesPerSecond }) })
  const direct = `http://127.0.0.1:${running.port}`
  let stopping: Promise<void> | undefined
  return {
    kind,
    docroot,
    direct,
    proxy,
    url: (path) => proxy.url(path),
    waitServes: (path, prefix, timeoutMs = 5_000) => waitServes(`${direct}${path}`, prefix, timeoutMs),
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled([proxy.close(), running.stop()])
        await rm(workDir, { recursive: true, force: true })
        if (ownsDocroot) await docroot.remove()
      })()
      return stopping
    },
  }
}

interface RunningServer {
  child: ChildProcess
  exited: Promise<void>
  output(): string
  stop(): Promise<void>
}

// The shell starts the server, then waits on its stdin: end-of-file (stop(), or the test process
// gone, however it died) stops the server. Both stay in the test's process group, so a signal to
// the group (a CI job cancelled) reaches the server too.
const SUPERVISOR = '"$0" "$@" & pid=$!; echo "pid $pid"; read _; kill -TERM $pid 2>/dev/null; wait $pid'

function runServer(command: string, args: string[], env: Record<string, string>, lifetimeMs: number): RunningServer {
  const child = spawn('sh', ['-c', SUPERVISOR, command, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let output = ''
  const collect = (chunk: Buffer): void => {
    if (output.length < 16_384) output += chunk.toString('utf8')
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  child.stdin?.on('error', () => undefined)
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once('close', () => resolve())
    child.once('error', () => resolve())
  })
  const stop = async (): Promise<void> => {
    clearTimeout(lifetime)
    child.stdin?.end()
    const timer = delay(STOP_GRACE_MS).then(() => 'late' as const)
    if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'late') {
      const server = /^pid (\d+)$/m.exec(output)?.[1]
      for (const pid of [server === undefined ? undefined : Number(server), child.pid]) {
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await exited
    }
  }
  const lifetime = setTimeout(() => void stop(), lifetimeMs)
  lifetime.unref()
  return { child, exited, output: () => output, stop }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-4000)
  } catch {
    return ''
  }
}

/** Sends one GET; resolves with the status and up to `want` body bytes (then drops the connection). */
function get(url: string, want: number, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      let have = 0
      const finish = (): void => {
        res.destroy()
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, want) })
      }
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        have += chunk.length
        if (have >= want) finish()
      })
      res.on('end', finish)
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

const POLL_MS = 25

async function waitReady(origin: string, server: RunningServer, timeoutMs: number): Promise<boolean> {
  let gone = false
  void server.exited.then(() => (gone = true))
  const deadline = Date.now() + timeoutMs
  while (!gone && Date.now() < deadline) {
    try {
      await get(`${origin}/`, 0, 1000)
      return true
    } catch {
      await delay(POLL_MS)
    }
  }
  return false
}

async function waitServes(url: string, prefix: Uint8Array, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    try {
      const { status, body } = await get(url, prefix.length, 1000)
      if (status === 200 && Buffer.compare(body, prefix) === 0) return
      last = `status ${status}, a body that starts differently`
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await delay(POLL_MS)
  }
  throw new Error(`${url} did not serve the expected bytes within ${timeoutMs} ms (${last})`)
}
