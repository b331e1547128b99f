/**
 * helia's own client, for benchmarks against haul: fetches `--source` (a CID or /ipfs/CID[/path])
 * from one trustless gateway (`--gateway`) with @helia/unixfs over a helia node whose only block
 * broker is that gateway (trustless gateway routing, no libp2p), and writes it to `--output` — a
 * file, or a folder for a directory. Runs on Node 22 (see `heliaClientCommand`). Prints one line
 * `{"event":"done","bytes":N,"files":N}`.
 */
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { trustlessGateway } from '@helia/block-brokers'
import { httpGatewayRouting } from '@helia/routers'
import { unixfs, type UnixFS } from '@helia/unixfs'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

function option(name: string): string {
  const at = process.argv.indexOf(`--${name}`)
  const value = at >= 0 ? process.argv[at + 1] : undefined
  if (value === undefined) throw new Error(`--${name} is required`)
  return value
}

const gateway = option('gateway')
const source = option('source').replace(/^\/ipfs\//, '').replace(/^ipfs:\/\//, '')
const output = option('output')
const [root = '', ...path] = source.split('/')

/** helia's router type, which its packages spell in slightly different ways. */
type Router = NonNullable<NonNullable<Parameters<typeof createHeliaLight>[0]>['routers']>[number]

const helia = createHeliaLight({
  blockBrokers: [trustlessGateway({ allowInsecure: true, allowLocal: true })],
  routers: [httpGatewayRouting({ gateways: [gateway] }) as Router],
})
await helia.start()
const fs = unixfs(helia)

let bytes = 0
let files = 0

async function save(cid: CID, target: string, depth: number): Promise<void> {
  if (depth > 64) throw new Error('tree too deep')
  const stat = await fs.stat(cid)
  if (stat.type === 'directory') {
    await mkdir(target, { recursive: true })
    for await (const entry of fs.ls(cid)) await save(entry.cid, join(target, entry.name), depth + 1)
    return
  }
  await pipeline(counted(fs, cid), createWriteStream(target))
  files++
}

async function* counted(ufs: UnixFS, cid: CID): AsyncGenerator<Uint8Array> {
  for await (const chunk of ufs.cat(cid)) {
    bytes += chunk.length
    yield chunk
  }
}

const rootCid = CID.parse(root)
const target = path.length === 0 ? rootCid : (await fs.stat(rootCid, { path: path.join('/') })).cid
await save(target, output, 0)
process.stdout.write(`${JSON.stringify({ event: 'done', bytes, files })}\n`)
await helia.stop()
process.exit(0)
