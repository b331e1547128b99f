import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/**
 * The absolute path of the executable `name` on PATH (or in /usr/sbin and /sbin, where Debian
 * puts daemons), or undefined when it is not installed, so a test can skip and say why.
 */
export function findBinary(name: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter((d) => d !== '')
  for (const folder of folders) {
    const path = join(folder, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not in this folder
    }
  }
  return undefined
}
