import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Creates `path` (and missing parents). Unlike `mkdir(path, { recursive: true })`, which reports
 * EROFS and EACCES on the last component as ENOENT on Node 20, this surfaces the real errno, so
 * a read-only folder says "read-only" and not "no such file".
 */
export async function ensureDir(path: string, depth = 0): Promise<void> {
  try {
    await mkdir(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    if (code !== 'ENOENT' || depth > 64 || dirname(path) === path) throw err
    await ensureDir(dirname(path), depth + 1)
    await ensureDir(path, depth + 1)
  }
}
