import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The testkit gateway, running in a child process. */
export interface GatewayProcess {
  url: string
  cid: string
  /** The gateway process's pid (its CPU use is read from /proc). */
  pid: number
  stop(): Promise<void>
}

/** Starts gateway-server.js for `file` and waits until it serves. */
export async function startGatewayProcess(file: string): Promise<GatewayProcess> {
  const script = fileURLToPath(new URL('./gateway-server.js', import.meta.url))
  const child = spawn(process.execPath, [script, file], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`the gateway process exited (${code}) before serving`)))
  })
  const { url, cid } = JSON.parse(first) as { url: string; cid: string }
  return {
    url,
    cid,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.stdin.end()
      await exited
    },
  }
}
