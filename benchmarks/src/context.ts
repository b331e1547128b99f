import { mkdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchConfig } from './config.js'
import type { Nginx } from './nginx.js'

/** What every comparison gets from the runner. */
export interface BenchContext {
  config: BenchConfig
  tools: Record<string, string>
  nginx: Nginx
  /** Directory of the generated files (nginx's root). */
  filesDir: string
  log: (line: string) => void
}

/** `node apps/cli/dist/bin.js get …`. */
export function haulArgv(ctx: BenchContext, args: string[]): string[] {
  return [process.execPath, join(ctx.config.repoRoot, 'apps/cli/dist/bin.js'), 'get', ...args]
}

/** The Node.js floor (see node-floor.ts): the same runtime and HTTP client as haul, doing nothing else. */
export function nodeFloorArgv(url: string, out: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-floor.js'), url, out]
}

/** The socket floor (see node-socket-floor.ts): a `net` socket reading into one reused buffer, `writeSync` to the file. */
export function nodeSocketFloorArgv(url: string, out: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-socket-floor.js'), url, out]
}

/** The verified socket floor (see node-verified-floor.ts): the socket floor with sha256 on a second thread. */
export function nodeVerifiedFloorArgv(url: string, out: string, sha256: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-verified-floor.js'), url, out, sha256]
}

/** The verified CAR floor (see node-car-floor.ts): a file's CAR, every block checked against its CID, the file's sha256 on a thread. */
export function nodeCarFloorArgv(carUrl: string, out: string, sha256: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-car-floor.js'), carUrl, out, sha256]
}

/** The verified CAR floor on a socket (see node-car-socket-floor.ts): haul's body path without haul. */
export function nodeCarSocketFloorArgv(carUrl: string, out: string, sha256: string): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-car-socket-floor.js'), carUrl, out, sha256]
}

/** The batch floor (see node-batch-floor.ts): `node:http` kept alive, each body saved `plain`, `durable` or `staged`. */
export function nodeBatchFloorArgv(list: string, jobs: number, dir: string, mode: 'plain' | 'durable' | 'staged'): string[] {
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), 'node-batch-floor.js'), list, String(jobs), dir, mode]
}

/** What a script's one-liner does to save a URL: Node's own fetch, the body in memory, one write. */
const FETCH_AND_SAVE = "const [url, out] = process.argv.slice(1); const r = await fetch(url); if (!r.ok) throw new Error(String(r.status)); await (await import('node:fs/promises')).writeFile(out, Buffer.from(await r.arrayBuffer()))"

/** `node -e` fetch-and-save of `url` to `out`. */
export function nodeFetchSaveArgv(url: string, out: string): string[] {
  return [process.execPath, '--input-type=module', '-e', FETCH_AND_SAVE, url, out]
}

/** A fresh, empty output folder (staging entries and all) for one run. */
export function cleanDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
}

/** Throws unless `path` holds `size` bytes. */
export function expectSize(path: string, size: number): void {
  const actual = statSync(path).size
  if (actual !== size) throw new Error(`${path} has ${actual} bytes, expected ${size}`)
}

export function outDir(ctx: BenchContext, name: string): string {
  return join(ctx.config.workDir, 'out', name)
}
