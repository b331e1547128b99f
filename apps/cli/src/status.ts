import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { DEFAULT_FOREIGN_STAGE_GRACE_MS, filesystemKind, formatBytes, listStaged } from '@haul/core'
import type { ReporterStreams } from './reporter.js'

/** `haul status PATH [--json]`: what is staged for a destination, read back from its journals. */
export async function runStatus(argv: string[], context: ReporterStreams & { cwd: string }): Promise<number> {
  const json = argv.includes('--json')
  const paths = argv.filter((a) => a !== '--json')
  if (paths.length !== 1 || paths[0]!.startsWith('-')) {
    context.stderr.write('haul: status takes one PATH (the download destination). Example: haul status model.bin\n')
    return 2
  }
  const destination = resolve(context.cwd, paths[0]!)
  const present = await stat(destination).then((s) => s.isFile(), () => false)
  const staged = await listStaged(destination)
  const kind = await filesystemKind(dirname(destination))
  // Where other hosts may share the folder, say so: the lock there may cover this host only.
  const filesystem = kind === undefined ? undefined : { name: kind.name, network: kind.network, ...(kind.network ? { lock: 'host-local' as const } : {}) }
  const entries = staged.map((s) => ({
    source: s.journal?.head.source,
    bytes: s.bytesOnDisk,
    total: s.journal?.head.size,
    // Another host's partial is never adopted here (its writer may only be stopped).
    resumable: s.journal !== undefined && !s.live && !s.foreign,
    inProgress: s.live,
    ...(s.foreign ? { foreign: true, abandoned: !s.live } : {}),
    ...(s.writer === undefined ? {} : { pid: s.writer.pid, host: s.writer.host }),
    expected: s.journal?.head.expected || undefined,
    staging: s.dir,
  }))
  if (json) {
    context.stdout.write(`${JSON.stringify({ path: destination, exists: present, ...(filesystem === undefined ? {} : { filesystem }), staged: entries })}\n`)
    return 0
  }
  const lines = [`${destination}: ${present ? 'present' : 'not present'}`]
  if (filesystem?.network === true) {
    lines.push(`  on ${filesystem.name}, a network filesystem: haul's lock there may exclude only the processes on this host, so other hosts may download it at the same time (the file stays correct)`)
  }
  if (entries.length === 0) lines.push('  nothing staged')
  for (const e of entries) {
    const total = e.total === undefined ? 'unknown size' : formatBytes(e.total)
    const pct = e.total === undefined || e.total === 0 ? '' : ` (${((e.bytes / e.total) * 100).toFixed(1)}%)`
    lines.push(`  ${e.source ?? '(unknown source)'}: ${formatBytes(e.bytes)} of ${total}${pct} verified on disk; ${stateOf(e)}`)
  }
  context.stdout.write(`${lines.join('\n')}\n`)
  return 0
}

/** What `haul status` says of one staged partial. */
function stateOf(e: { inProgress: boolean; resumable: boolean; foreign?: boolean; pid?: number; host?: string }): string {
  if (e.foreign === true && e.inProgress) return `staged by pid ${e.pid} on another host, ${e.host}, which may still be downloading it (this host can't look it up); not resumed from here`
  if (e.foreign === true) return `left by pid ${e.pid} on another host, ${e.host}: nothing in it changed for ${DEFAULT_FOREIGN_STAGE_GRACE_MS / 60_000} minutes, so it counts as abandoned; not resumed from here, removed once the file lands`
  if (e.inProgress) return e.pid === undefined ? 'being downloaded now by a haul process on this host' : `being downloaded now by pid ${e.pid} on ${e.host}`
  return e.resumable ? 'resumable: run the same haul get again' : 'not resumable (no readable journal)'
}
