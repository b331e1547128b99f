import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** A Debian package and the binary it provides. */
interface Tool {
  bin: string
  path: string
  apt: string
}

const TOOLS: Tool[] = [
  { bin: 'nginx', path: '/usr/sbin/nginx', apt: 'nginx-light' },
  { bin: 'aria2c', path: '/usr/bin/aria2c', apt: 'aria2' },
  { bin: 'time', path: '/usr/bin/time', apt: 'time' },
  { bin: 'curl', path: '/usr/bin/curl', apt: 'curl' },
  { bin: 'sha256sum', path: '/usr/bin/sha256sum', apt: 'coreutils' },
  { bin: 'openssl', path: '/usr/bin/openssl', apt: 'openssl' },
]

function which(tool: Tool): string | undefined {
  if (existsSync(tool.path)) return tool.path
  const found = spawnSync('sh', ['-c', `command -v ${tool.bin}`], { encoding: 'utf8' })
  return found.status === 0 ? found.stdout.trim() : undefined
}

/**
 * Makes sure the peers and servers are installed: as root with apt-get (one `apt-get update`
 * first), otherwise it says what to install and stops. Returns each binary's path by name.
 */
export function ensureTools(log: (line: string) => void): Record<string, string> {
  let missing = TOOLS.filter((t) => which(t) === undefined)
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => t.apt))].join(' ')
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
      throw new Error(`missing ${missing.map((t) => t.bin).join(', ')}: install them with\n  sudo apt-get update && sudo apt-get install -y ${packages}\nand run pnpm bench again.`)
    }
    log(`installing ${packages} with apt-get`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages.split(' ')], { stdio: 'inherit', env })
    // The package's own service may have started on port 80; the bench runs its own nginx.
    spawnSync('sh', ['-c', 'command -v systemctl >/dev/null && systemctl stop nginx 2>/dev/null; command -v service >/dev/null && service nginx stop 2>/dev/null'], { stdio: 'ignore' })
    missing = TOOLS.filter((t) => which(t) === undefined)
    if (missing.length > 0) throw new Error(`apt-get did not provide ${missing.map((t) => t.bin).join(', ')}`)
  }
  return Object.fromEntries(TOOLS.map((t) => [t.bin, which(t)!]))
}

/** First line of `bin --version` (or `-v`), for the report. */
export function versionOf(bin: string, flag = '--version'): string {
  const r = spawnSync(bin, [flag], { encoding: 'utf8' })
  return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown'
}
