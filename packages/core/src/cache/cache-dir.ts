import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * The cache folder to use when none is given: `HAUL_CACHE`, else `$XDG_CACHE_HOME/haul`, else
 * `~/.cache/haul`. The caller passes the environment (the CLI does): core reads none itself.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.HAUL_CACHE !== undefined && env.HAUL_CACHE !== '') return resolve(env.HAUL_CACHE)
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '') return join(resolve(env.XDG_CACHE_HOME), 'haul')
  return join(homedir(), '.cache', 'haul')
}
