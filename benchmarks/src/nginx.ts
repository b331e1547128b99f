import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { join } from 'node:path'
import { freePort } from './free-port.js'

/** One line of the access log. */
export interface AccessRecord {
  status: number
  bytesSent: number
  uri: string
  range: string
}

/** nginx on 127.0.0.1, serving `root` at `/` and at `/slow/` (limit_rate per connection). */
export interface Nginx {
  url: string
  /** Bytes of the access log so far: pass to `accessSince` to see only later requests. */
  mark(): number
  /** Requests logged after `mark` (waits a moment for nginx to write them). */
  accessSince(mark: number): Promise<AccessRecord[]>
  stop(): Promise<void>
}

/**
 * Starts nginx with a generated config: `sendfile on`, an access log with `$bytes_sent`, and a
 * `/slow/` location with `limit_rate`. nginx runs under a small shell that kills it when the
 * bench's end of its stdin closes, so it stops with the bench even if the bench is killed.
 */
export async function startNginx(bin: string, root: string, dir: string, limitRate: string): Promise<Nginx> {
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const log = join(dir, 'access.log')
  const conf = join(dir, 'nginx.conf')
  writeFileSync(log, '')
  // Started as root, nginx's workers would run as nobody, who cannot read a checkout under /root
  // or a private temp folder: keep them as the bench's own user (they serve 127.0.0.1 only).
  const user = process.getuid?.() === 0 ? 'user root root;\n' : ''
  writeFileSync(
    conf,
    `${user}worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  log_format bench '$status $bytes_sent "$request_uri" "$http_range"';
  access_log ${log} bench;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 10s;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location /slow/ {
      alias ${root}/;
      limit_rate ${limitRate};
    }
  }
}
`,
  )
  const child: ChildProcess = spawn('sh', ['-c', `"$0" -p "$1" -e "$1/error.log" -c "$2" & pid=$!; read _; kill -TERM $pid; wait $pid`, bin, dir, conf], {
    stdio: ['pipe', 'ignore', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${url}/`, { method: 'HEAD' })
      await res.arrayBuffer()
      break
    } catch {
      if (i > 100 || child.exitCode !== null) throw new Error(`nginx did not start; see ${join(dir, 'error.log')}`)
      await delay(50)
    }
  }
  return {
    url,
    mark: () => statSync(log).size,
    async accessSince(mark) {
      await delay(200)
      return readFileSync(log, 'utf8')
        .slice(mark)
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const m = /^(\d+) (\d+) "([^"]*)" "([^"]*)"$/.exec(l)
          return { status: Number(m?.[1]), bytesSent: Number(m?.[2]), uri: m?.[3] ?? '', range: m?.[4] ?? '' }
        })
    },
    async stop() {
      if (child.exitCode === null) child.stdin?.end()
      await exited
    },
  }
}
