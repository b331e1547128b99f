import { parseArgs } from 'node:util'
import { Cache, HaulError, defaultCacheDir, formatBytes, isHaulError } from '@haul/core'
import { optionsFromEnv } from './env-options.js'
import { exitCodeFor } from './exit-codes.js'
import { parseSize } from './size.js'
import type { GetContext } from './get.js'

/**
 * `haul cache ls | verify | gc --max-size SIZE` on the cache folder (`--cache DIR`, else
 * HAUL_CACHE, XDG_CACHE_HOME/haul or ~/.cache/haul). `verify` exits 4 when it found a corrupt
 * blob (it removes it: outputs hard-linked to it share the bad bytes, so fetch them again).
 */
export async function runCache(argv: string[], context: GetContext): Promise<number> {
  const json = argv.includes('--json')
  try {
    let parsed
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { cache: { type: 'string' }, json: { type: 'boolean' }, 'max-size': { type: 'string' } } })
    } catch (err) {
      throw new HaulError('HAUL_USAGE', `${(err as Error).message}. Run "haul --help" for usage.`)
    }
    const { values, positionals } = parsed
    const [action, ...extra] = positionals
    if (action === undefined || !['ls', 'verify', 'gc'].includes(action) || extra.length > 0) throw new HaulError('HAUL_USAGE', 'haul cache takes ls, verify or gc --max-size SIZE.')
    if ((action === 'gc') !== (values['max-size'] !== undefined)) throw new HaulError('HAUL_USAGE', action === 'gc' ? 'haul cache gc needs --max-size SIZE (e.g. 10G).' : '--max-size goes with haul cache gc.')
    const env = context.env ?? process.env
    const { lockKind, hashThread } = optionsFromEnv(env)
    const cache = new Cache(values.cache ?? defaultCacheDir(env), { lockKind, hashThread })
    const out = (value: unknown, text: string): void => {
      context.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`)
    }
    if (action === 'ls') {
      const entries = await cache.list()
      const bytes = entries.reduce((sum, e) => sum + e.size, 0)
      const rows = entries.map((e) => `${e.sha256}  ${formatBytes(e.size).padStart(10)}  ${e.lastUsed.toISOString()}${e.cids.length > 0 ? `  ${e.cids.join(' ')}` : ''}`)
      out({ dir: cache.dir, bytes, blobs: entries }, [`${cache.dir}: ${entries.length} blobs, ${formatBytes(bytes)} (least recently used first)`, ...rows].join('\n'))
      return 0
    }
    if (action === 'verify') {
      const report = await cache.verify()
      const lines = [`${cache.dir}: checked ${report.checked} blobs (${formatBytes(report.bytes)}); ${report.corrupt.length} corrupt`]
      for (const c of report.corrupt) lines.push(`  corrupt: ${c.sha256} has sha256 ${c.actual}; ${c.removed ? 'removed' : 'in use by a running download, not removed'}. Outputs linked to it share the bad bytes: fetch them again.`)
      out({ dir: cache.dir, ...report }, lines.join('\n'))
      return report.corrupt.length > 0 ? exitCodeFor('HAUL_INTEGRITY') : 0
    }
    const maxBytes = parseSize(values['max-size']!, '--max-size')
    const report = await cache.gc({ maxBytes })
    const lines = [`${cache.dir}: removed ${report.removed.length} blobs (${formatBytes(report.bytesBefore - report.bytesAfter)}); now ${formatBytes(report.bytesAfter)} (limit ${formatBytes(maxBytes)})`]
    for (const b of report.busy) lines.push(`  kept ${b.sha256}: a running download holds it`)
    out({ dir: cache.dir, maxBytes, ...report }, lines.join('\n'))
    return 0
  } catch (err) {
    const error = isHaulError(err) ? err : new HaulError('HAUL_INTERNAL', `Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    if (json) context.stdout.write(`${JSON.stringify({ event: 'error', code: error.code, message: error.message })}\n`)
    else context.stderr.write(`haul: ${error.message}\n`)
    return exitCodeFor(error.code)
  }
}
