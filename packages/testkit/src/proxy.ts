import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary } from './binary.js'
import { closedPort } from './http-origin.js'
import { spawnChild, type SpawnedChild } from './process.js'

/** Where Debian's `tinyproxy` is, or undefined when it is not installed (tests then skip, saying so). */
export const TINYPROXY: string | undefined = findBinary('tinyproxy')

/** One request the proxy received, from its log. */
export interface ProxiedRequest {
  /** `GET`, `HEAD`, or `CONNECT` for a tunnel (https). */
  method: string
  /** The absolute URL (`http://127.0.0.1:PORT/f`) or, for CONNECT, `host:port`. */
  target: string
}

/** Options for {@link startTinyproxy}. */
export interface ProxyOptions {
  /** The proxy stops itself after this long, so nothing outlives a test. @default 120000 */
  lifetimeMs?: number
}

/** A running forward proxy on 127.0.0.1. */
export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  /** The requests it has logged so far (tunnels as CONNECT), in order. */
  readonly requests: readonly ProxiedRequest[]
  /** Its log so far. */
  readonly log: string
  /** Stops it (SIGTERM, then SIGKILL) and removes its folder. Idempotent. */
  close(): Promise<void>
}

/** Attempts at a port: the free port we probe may be taken before tinyproxy binds it. */
const PORT_ATTEMPTS = 5
const REQUEST_LINE = /Request \(file descriptor \d+\): (\S+) (\S+) HTTP\//

/**
 * Starts Debian's tinyproxy in the foreground on 127.0.0.1 with a configuration of its own
 * (a free port, only 127.0.0.1 allowed, every CONNECT port allowed, requests logged), and
 * resolves once it accepts connections.
 */
export async function startTinyproxy(options: ProxyOptions = {}): Promise<TestProxy> {
  if (TINYPROXY === undefined) throw new Error('tinyproxy is not installed (apt-get install tinyproxy)')
  const dir = await mkdtemp(join(tmpdir(), 'haul-proxy-'))
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await closedPort()
      const config = join(dir, 'tinyproxy.conf')
      // No ConnectPort line: tinyproxy then tunnels to any port, as the test servers use random ones.
      await writeFile(config, [`Port ${port}`, 'Listen 127.0.0.1', 'Allow 127.0.0.1', 'Timeout 60', 'MaxClients 64', 'LogLevel Info', ''].join('\n'))
      const child = spawnChild(TINYPROXY, ['-d', '-c', config], { label: `tinyproxy :${port}`, timeoutMs: 10_000 })
      try {
        await child.waitForLine('Accepting connections')
        return running(child, port, dir, options.lifetimeMs ?? 120_000)
      } catch (err) {
        await child.kill()
        if (attempt >= PORT_ATTEMPTS) throw err
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

function running(child: SpawnedChild, port: number, dir: string, lifetimeMs: number): TestProxy {
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearTimeout(lifetime)
      child.signal('SIGTERM')
      await child.waitForExit({ timeoutMs: 2_000 }).catch(() => child.kill())
      await rm(dir, { recursive: true, force: true })
    })()
    return closing
  }
  const lifetime = setTimeout(() => void close(), lifetimeMs)
  lifetime.unref()
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return child.lines.flatMap((line) => {
        const m = REQUEST_LINE.exec(line)
        return m === null ? [] : [{ method: m[1]!, target: m[2]! }]
      })
    },
    get log() {
      return child.stdout
    },
    close,
  }
}
