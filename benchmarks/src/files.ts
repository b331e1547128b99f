import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** A generated file of random bytes and its digest. */
export interface BenchFile {
  name: string
  path: string
  size: number
  sha256: string
}

const PIECE_BYTES = 1024 * 1024 * 1024

/**
 * Random bytes (`openssl rand`, a CSPRNG stream, about 1 GiB/s) generated once per size and
 * reused across runs, with the sha256 beside it.
 */
export function benchFile(dir: string, size: number, log: (line: string) => void): BenchFile {
  mkdirSync(dir, { recursive: true })
  const name = `random-${size}.bin`
  const path = join(dir, name)
  const digestPath = `${path}.sha256`
  if (existsSync(path) && existsSync(digestPath) && statSync(path).size === size) {
    return { name, path, size, sha256: readFileSync(digestPath, 'utf8').trim() }
  }
  log(`generating ${name}`)
  const tmp = `${path}.tmp`
  // openssl rand takes at most 2^31-1 bytes a call: larger files are written a GiB at a time.
  const pieces: number[] = []
  for (let left = size; left > 0; left -= PIECE_BYTES) pieces.push(Math.min(left, PIECE_BYTES))
  const r = spawnSync('sh', ['-c', 'out="$1"; shift; for n in "$@"; do openssl rand "$n" || exit 1; done > "$out"', 'sh', tmp, ...pieces.map(String)], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error(`openssl rand failed for ${name}`)
  const sum = spawnSync('sha256sum', [tmp], { encoding: 'utf8' })
  if (sum.status !== 0) throw new Error(`sha256sum failed for ${name}`)
  const sha256 = sum.stdout.split(' ')[0]!
  renameSync(tmp, path)
  writeFileSync(digestPath, `${sha256}\n`)
  return { name, path, size, sha256 }
}

/**
 * `count` files of `size` random bytes in `dir/<count>x<size>/`, generated once and reused, named
 * `f1.bin` … Returns the folder's name under `dir` and the file names.
 */
export function benchFileSet(dir: string, count: number, size: number, log: (line: string) => void): { folder: string; names: string[] } {
  const folder = `${count}x${size}`
  const path = join(dir, folder)
  const names = Array.from({ length: count }, (_, i) => `f${i + 1}.bin`)
  const done = join(path, '.complete')
  if (existsSync(done)) return { folder, names }
  log(`generating ${count} files of ${size} bytes`)
  mkdirSync(path, { recursive: true })
  for (const name of names) writeFileSync(join(path, name), randomBytes(size))
  writeFileSync(done, '')
  return { folder, names }
}
