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
