import { HaulError, LOCK_KINDS, type DownloadOptions, type LockKind } from '@haul/core'

/** The download options the environment may set: the only place the CLI's tuning variables are read. */
export type EnvOptions = Pick<DownloadOptions, 'lockKind' | 'writebackBytes' | 'hashThread' | 'fsync'>

const MiB = 1024 * 1024

function usage(message: string): HaulError {
  return new HaulError('HAUL_USAGE', message)
}

/**
 * Reads the tuning variables into download options (unset or empty: the library's default):
 * - `HAUL_LOCK=auto|ofd|socket` → `lockKind`
 * - `HAUL_WRITEBACK_MIB=N` (0 turns it off) → `writebackBytes`
 * - `HAUL_HASH_THREAD=0` → `hashThread: false`
 * - `HAUL_FSYNC=0` → `fsync: false` (the commit stays atomic, but a power cut may lose it)
 * @throws HaulError `HAUL_USAGE` for a value that means nothing.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv): EnvOptions {
  const out: EnvOptions = {}
  const lock = env.HAUL_LOCK
  if (lock !== undefined && lock !== '') {
    if (!(LOCK_KINDS as ReadonlyArray<string>).includes(lock)) throw usage(`HAUL_LOCK=${lock} is not a lock kind; set it to "ofd" or "socket", or unset it to choose automatically.`)
    out.lockKind = lock as LockKind
  }
  const writeback = env.HAUL_WRITEBACK_MIB
  if (writeback !== undefined && writeback !== '') {
    if (!/^\d+(\.\d+)?$/.test(writeback)) throw usage(`HAUL_WRITEBACK_MIB takes a number of MiB (0 turns the background writeback off), got "${writeback}".`)
    out.writebackBytes = Math.round(Number(writeback) * MiB)
  }
  const flag = (name: string): boolean | undefined => {
    const value = env[name]
    if (value === undefined || value === '') return undefined
    if (value === '0' || value === '1') return value === '1'
    throw usage(`${name} takes 0 or 1, got "${value}".`)
  }
  const hashThread = flag('HAUL_HASH_THREAD')
  if (hashThread !== undefined) out.hashThread = hashThread
  const fsync = flag('HAUL_FSYNC')
  if (fsync !== undefined) out.fsync = fsync
  return out
}
