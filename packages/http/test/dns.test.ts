// A host name that does not resolve costs two attempts (one retry), not the six of other
// transient failures. The downloads run in a child process inside a new user and network
// namespace (`unshare -rnm`), where only a loopback exists: no packet can leave the machine. There,
// with /etc/nsswitch.conf bind-mounted to `hosts: files`, the lookup ends at /etc/hosts (ENOTFOUND);
// with the machine's own resolver configuration, the resolver is unreachable (EAI_AGAIN).
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findBinary, spawnChild, type ChildEvent } from '@haul/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const UNSHARE = findBinary('unshare')
/** Whether this machine lets an unprivileged process make its own user, network and mount namespaces. */
const isolated = UNSHARE !== undefined && spawnSync(UNSHARE, ['-rnm', 'true']).status === 0
if (!isolated) console.warn('dns.test: skipping: `unshare -rnm` is not available here (util-linux missing, or user namespaces are disabled)')

/** RFC 6761: `.invalid` never resolves. */
const URL_NOWHERE = 'http://nonexistent.invalid/f.bin'

describe.skipIf(!isolated)('a host name that does not resolve (in a network namespace of its own)', () => {
  let dir: string
  let script: string
  let filesOnly: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'haul-dns-'))
    script = join(dir, 'get.mjs')
    filesOnly = join(dir, 'nsswitch.conf')
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
    await writeFile(filesOnly, 'hosts: files\n')
    await writeFile(
      script,
      `import { download } from ${JSON.stringify(entry)}
const [url, output] = process.argv.slice(2)
const started = Date.now()
try {
  await download(url, { output, backoff: { baseMs: 50, capMs: 100 }, onEvent: (e) => console.log(JSON.stringify(e)) })
} catch (err) {
  console.log(JSON.stringify({ event: 'thrown', code: err.code, transient: err.transient, message: err.message, ms: Date.now() - started }))
}
`,
    )
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function get(nsswitch: string | undefined): Promise<{ retries: ChildEvent[]; thrown: ChildEvent }> {
    const inner = nsswitch === undefined ? 'exec "$@"' : 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"'
    const child = spawnChild(UNSHARE!, ['-rnm', 'sh', '-c', inner, nsswitch ?? 'sh', process.execPath, script, URL_NOWHERE, join(dir, 'out.bin')], { timeoutMs: 30_000 })
    expect({ ...(await child.waitForExit()), stderr: child.stderr }).toMatchObject({ code: 0, stderr: '' })
    const thrown = child.events.find((e) => e.event === 'thrown')
    if (thrown === undefined) throw new Error(`no error from the child:\n${child.stdout}`)
    return { retries: child.events.filter((e) => e.event === 'retry'), thrown }
  }

  it('fails with HAUL_SOURCE after one retry when the name does not exist (ENOTFOUND)', async () => {
    const { retries, thrown } = await get(filesOnly)
    expect(retries).toHaveLength(1)
    expect(thrown).toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    expect(thrown.message).toMatch(/ENOTFOUND/)
    expect(thrown.message).toMatch(/check it for typos/)
    expect(thrown.ms).toBeLessThan(5_000)
  })

  it('fails with HAUL_SOURCE after one retry when the resolver cannot be reached (EAI_AGAIN)', async () => {
    const { retries, thrown } = await get(undefined)
    expect(retries).toHaveLength(1)
    expect(thrown).toMatchObject({ code: 'HAUL_SOURCE', transient: false })
    expect(thrown.message).toMatch(/EAI_AGAIN/)
  })
})
