// A real network folder for tests: Debian's OpenSSH server on 127.0.0.1 and several sshfs mounts
// of one export folder. Each mount has its own FUSE superblock, so the kernel's flock/OFD locks
// on one mount do not exclude processes on another, as on NFS or SMB between hosts; attributes
// and names are cached for about a second, and another mount's rename or unlink can land between
// any two calls. That is the world a fleet sharing a network folder lives in.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

/** Where Debian installs the programs. */
const SSHD = '/usr/sbin/sshd'
const TOOLS = ['sshfs', 'fusermount3', 'ssh-keygen'] as const

/** How long sshd and each mount may take to come up. */
const START_TIMEOUT_MS = 15_000

/** Ports probed before giving up when another process takes the probed port first. */
const MAX_PORT_TRIES = 5

/** Options for {@link startSshfs}. */
export interface SshfsOptions {
  /** Mounts of the one export folder (each stands for a host). @default 2 */
  mounts?: number
  /**
   * How long names and attributes stay cached on each mount, in seconds: the kernel's
   * entry/attr/negative timeouts (NFS caches attributes for 3 to 60 s by default; a second is
   * enough to show the races). sshfs's own directory cache stays off: under concurrent renames
   * and unlinks from several mounts, sshfs 3.7.3 crashed in it (a NULL string hashed by glib).
   * @default 1
   */
  cacheSeconds?: number
  /** More `-o` options for every sshfs mount. @default [] */
  options?: string[]
  /**
   * Everything is torn down after this long, so no mount or sshd outlives a test run.
   * @default 600000
   */
  lifetimeMs?: number
}

/** A running export with its mounts. */
export interface SshfsExport {
  /** The exported folder itself (the server's view: no cache, no FUSE). */
  readonly export: string
  /** Mount points, one per simulated host. */
  readonly mounts: readonly string[]
  /** sshd's port on 127.0.0.1. */
  readonly port: number
  /** Unmounts every mount (lazily if busy) and stops sshd. Idempotent; never throws. */
  close(): Promise<void>
}

/** Whether sshd + sshfs can run here; `reason` says what is missing. */
export function sshfsAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'sshfs mounts need Linux' }
  if (!existsSync(SSHD)) return { ok: false, reason: `${SSHD} is not installed (Debian package openssh-server)` }
  for (const tool of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { ok: false, reason: `${tool} is not installed (Debian packages sshfs, fuse3, openssh-client)` }
  }
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK)
  } catch (err) {
    return { ok: false, reason: `/dev/fuse is not usable (${(err as NodeJS.ErrnoException).code ?? String(err)}): no FUSE in this kernel or container` }
  }
  return { ok: true }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

function run(command: string, args: readonly string[], timeoutMs = START_TIMEOUT_MS): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: null, output: output + err.message })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/**
 * Starts sshd on `port`; resolves once it listens, with `undefined` if the port was taken
 * meanwhile (the caller probes another).
 */
function startSshd(config: string): Promise<ChildProcess | undefined> {
  return new Promise((resolve, reject) => {
    const sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    const timer = setTimeout(() => {
      sshd.kill('SIGKILL')
      reject(new Error(`sshd did not start listening within ${START_TIMEOUT_MS} ms:\n${log}`))
    }, START_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      log += chunk.toString()
      if (/Server listening on 127\.0\.0\.1 port \d+/.test(log)) {
        clearTimeout(timer)
        sshd.stderr.off('data', onData)
        sshd.stderr.resume() // keep draining its log, or it blocks on a full pipe
        resolve(sshd)
      }
    }
    sshd.stderr.on('data', onData)
    sshd.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    sshd.once('exit', (code) => {
      clearTimeout(timer)
      if (/Address already in use/.test(log)) resolve(undefined)
      else reject(new Error(`sshd exited with ${String(code)} before listening:\n${log}`))
    })
  })
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

function isMounted(path: string): boolean {
  // Field 5 is the mount point (spaces and friends octal-escaped; our paths have none).
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === path)
}

/** Unmounts `path`; lazily (detached, finished once unused) when something still has it open. */
async function unmount(path: string): Promise<void> {
  if (!isMounted(path)) return
  if ((await run('fusermount3', ['-u', path])).code === 0) return
  await run('fusermount3', ['-u', '-z', path])
  if (isMounted(path)) await run('umount', ['-l', path])
}

/**
 * A guardian shell that outlives us only as long as we live: it waits for end-of-file on its
 * stdin (the pipe closes however this process ends, a SIGKILL by a test runner's timeout
 * included), then unmounts every mount and kills sshd, so nothing is left hanging.
 */
function startGuardian(mounts: readonly string[], sshdPid: number, dir: string): ChildProcess {
  const quoted = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  const script = [
    'cat >/dev/null',
    ...mounts.map((m) => `fusermount3 -u -z ${quoted(m)} 2>/dev/null || umount -l ${quoted(m)} 2>/dev/null`),
    `kill ${sshdPid} 2>/dev/null`,
    `rm -rf ${quoted(dir)}`,
  ].join('; ')
  const guardian = spawn('sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
  guardian.unref()
  // The pipe must not keep the event loop alive either: only its closing matters.
  ;(guardian.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  return guardian
}

/**
 * Starts sshd on a free 127.0.0.1 port, with a host key, a throwaway client key and a config in a
 * temporary folder (key login for the current user, root included, for this sshd only), then
 * mounts one export folder `options.mounts` times with sshfs. Unmounts and stops sshd in
 * `close()`, after `lifetimeMs`, and (through a guardian process) when this process dies.
 *
 * @throws when sshd or a mount does not come up (call {@link sshfsAvailable} first to skip).
 */
export async function startSshfs(options: SshfsOptions = {}): Promise<SshfsExport> {
  const count = options.mounts ?? 2
  const cacheSeconds = options.cacheSeconds ?? 1
  const dir = await mkdtemp(join(tmpdir(), 'haul-sshfs-'))
  const exported = join(dir, 'export')
  const mounts = Array.from({ length: count }, (_, i) => join(dir, `host${i + 1}`))
  let sshd: ChildProcess | undefined
  let guardian: ChildProcess | undefined
  let lifetime: NodeJS.Timeout | undefined
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearTimeout(lifetime)
      for (const mount of mounts) await unmount(mount).catch(() => undefined)
      if (sshd !== undefined) await stop(sshd)
      guardian?.stdin?.end()
      if (!mounts.some(isMounted)) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
    })())
  try {
    await Promise.all([exported, ...mounts].map((d) => mkdir(d)))
    for (const key of ['host_key', 'client_key']) {
      const made = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `haul-test-${key}`, '-f', join(dir, key)])
      if (made.code !== 0) throw new Error(`ssh-keygen failed: ${made.output}`)
    }
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_key.pub')))
    // sshd refuses to start without its privilege separation folder, which Debian creates only
    // when the service runs.
    if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
    for (let attempt = 1; sshd === undefined; attempt++) {
      const port = await freePort()
      const config = join(dir, 'sshd_config')
      await writeFile(
        config,
        [
          'ListenAddress 127.0.0.1',
          `Port ${port}`,
          `HostKey ${join(dir, 'host_key')}`,
          'PidFile none',
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          // Key login only, and only with the throwaway key above.
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          // The temporary folder is not root-owned 0755 all the way up.
          'StrictModes no',
          'Subsystem sftp internal-sftp',
          'MaxStartups 64',
          'MaxSessions 64',
          'LogLevel INFO',
          '',
        ].join('\n'),
      )
      sshd = await startSshd(config)
      if (sshd === undefined && attempt >= MAX_PORT_TRIES) throw new Error(`sshd could not bind a free port after ${attempt} tries`)
      if (sshd !== undefined) Object.assign(sshd, { port })
    }
    const port = (sshd as ChildProcess & { port: number }).port
    guardian = startGuardian(mounts, sshd.pid!, dir)
    lifetime = setTimeout(() => void close(), options.lifetimeMs ?? 600_000)
    lifetime.unref()
    const user = userInfo().username
    const sshfsOptions = [
      `IdentityFile=${join(dir, 'client_key')}`,
      'StrictHostKeyChecking=no',
      'UserKnownHostsFile=/dev/null',
      'BatchMode=yes',
      'LogLevel=ERROR',
      'reconnect',
      'ServerAliveInterval=15',
      `entry_timeout=${cacheSeconds}`,
      `attr_timeout=${cacheSeconds}`,
      `negative_timeout=${cacheSeconds}`,
      'dir_cache=no',
      ...(options.options ?? []),
    ].join(',')
    for (const mount of mounts) {
      // Without -f, sshfs returns once the mount is up (its daemon carries on), which is the
      // event to wait for.
      const mounted = await run('sshfs', ['-F', '/dev/null', '-p', String(port), '-o', sshfsOptions, `${user}@127.0.0.1:${exported}`, mount])
      if (mounted.code !== 0 || !isMounted(mount)) throw new Error(`sshfs could not mount ${exported} on ${mount} (exit ${String(mounted.code)}): ${mounted.output}`)
    }
    return { export: exported, mounts, port, close }
  } catch (err) {
    await close()
    throw err
  }
}

/** What {@link probeLocks} found. */
export interface LockProbe {
  /** flock(2) on one path excluded a second description of the same path. */
  sameMountFlock: boolean
  /** flock(2) on `a` excluded flock on `b` (true: the lock spans the two mounts). */
  flock: boolean
  /** An OFD lock (fcntl F_OFD_SETLK) on `a` excluded one on `b`. */
  ofd: boolean
}

/** Linux's F_OFD_SETLK, which Python's fcntl module does not name. */
const F_OFD_SETLK = 37

const PROBE = `
import fcntl, json, struct, sys
def excluded(lock, first, second):
    a = open(first, 'a+'); b = open(second, 'a+')
    lock(a)
    try:
        lock(b)
        return False
    except OSError:
        return True
    finally:
        a.close(); b.close()
flock = lambda f: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
ofd = lambda f: fcntl.fcntl(f, ${F_OFD_SETLK}, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))
a, b = sys.argv[1], sys.argv[2]
print(json.dumps({'sameMountFlock': excluded(flock, a, a), 'flock': excluded(flock, a, b), 'ofd': excluded(ofd, a, b)}))
`

/**
 * Whether a lock taken through path `a` excludes one taken through path `b` (one file seen
 * through two mounts), checked with python3's fcntl, a program we did not write. Creates the
 * file if missing.
 */
export async function probeLocks(a: string, b: string): Promise<LockProbe> {
  const probed = await run('python3', ['-c', PROBE, a, b])
  if (probed.code !== 0) throw new Error(`python3 lock probe failed (exit ${String(probed.code)}): ${probed.output}`)
  return JSON.parse(probed.output) as LockProbe
}
