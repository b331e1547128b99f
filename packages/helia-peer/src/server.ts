/**
 * A trustless gateway built from helia's own code, for haul's tests and benchmarks: an offline
 * helia node (blockstore only: no libp2p, no routers, no block brokers, so no traffic leaves the
 * process) answering `GET /ipfs/…` through @helia/verified-fetch on 127.0.0.1. Run on Node 22
 * (helia's current releases need it) by {@link startHeliaGateway}, never by shipped code.
 *
 * Content is loaded over the same port, outside the gateway's namespace:
 * - `POST /_peer/car` with a CARv1 body: every block goes into the blockstore as it is (unverified,
 *   so a test can plant a corrupt one); answers `{"roots":[…],"blocks":N}`;
 * - `PUT /_peer/block/CID` with the block's bytes (again as they are);
 * - `DELETE /_peer/block/CID`: the gateway no longer has that block;
 * - `GET /_peer/requests`: the gateway requests answered so far, `[{"url","status"}]`.
 *
 * With `--refuse-car`, CAR requests get 406 and only raw blocks are served (a gateway of that kind).
 *
 * Prints one line `{"event":"listening","port":N}` when ready, and exits when its stdin closes
 * (the parent died or is done) or after `--lifetime-ms` (default 10 minutes), whatever happens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarBlockIterator } from '@ipld/car/iterator'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import * as json from 'multiformats/codecs/json'
import { sha512 } from 'multiformats/hashes/sha2'

const DEFAULT_LIFETIME_MS = 10 * 60_000

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? process.argv[at + 1] : undefined
}

const lifetimeMs = Number(option('lifetime-ms') ?? DEFAULT_LIFETIME_MS)
const refuseCar = process.argv.includes('--refuse-car')
const blockstore = new MemoryBlockstore()
/**
 * Helia's sessions need a block broker; this one never finds anything, so a block the blockstore
 * lacks is missing at once instead of being looked for on a network.
 */
const offline = {
  name: 'offline',
  async retrieve(cid: CID): Promise<Uint8Array> {
    throw Object.assign(new Error(`block ${cid.toString()} is not in this offline node`), { name: 'NotFoundError' })
  },
  createSession() {
    return { ...offline, async addPeer(): Promise<void> {} }
  },
}
const helia = createHeliaLight({ blockstore, codecs: [dagCbor, dagJson, json], hashers: [sha512], blockBrokers: [offline], routers: [] })
await helia.start()
const verifiedFetch = await createVerifiedFetchWithHelia(helia)

async function body(req: IncomingMessage): Promise<Uint8Array> {
  const parts: Buffer[] = []
  for await (const part of req) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

/** Gateway requests so far (admin requests are not counted). */
const answered: Array<{ url: string; status: number }> = []

async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (req.method === 'GET' && path === '/_peer/requests') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answered))
    return
  }
  if (req.method === 'POST' && path === '/_peer/car') {
    const blocks = await CarBlockIterator.fromIterable(req as AsyncIterable<Uint8Array>)
    let count = 0
    for await (const block of blocks) {
      await blockstore.put(block.cid, block.bytes)
      count++
    }
    const roots = (await blocks.getRoots()).map((r) => r.toString())
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ roots, blocks: count }))
    return
  }
  const match = /^\/_peer\/block\/([^/]+)$/.exec(path)
  if (match?.[1] !== undefined) {
    const cid = CID.parse(match[1])
    if (req.method === 'PUT') await blockstore.put(cid, await body(req))
    else if (req.method === 'DELETE') await blockstore.delete(cid)
    else {
      res.writeHead(405).end()
      return
    }
    res.writeHead(204).end()
    return
  }
  res.writeHead(404).end()
}

/** Hands a gateway request to verified-fetch as it came (path, query, Accept) and streams its answer back. */
async function gateway(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (refuseCar && (url.searchParams.get('format') === 'car' || (req.headers.accept ?? '').includes('application/vnd.ipld.car'))) {
    res.writeHead(406, { 'content-type': 'text/plain' }).end('this gateway serves raw blocks only')
    return
  }
  const controller = new AbortController()
  res.on('close', () => controller.abort())
  const headers: Record<string, string> = {}
  for (const name of ['accept', 'range']) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const response = await verifiedFetch(`ipfs://${url.pathname.slice('/ipfs/'.length)}${url.search}`, { headers, signal: controller.signal, method: req.method ?? 'GET' })
  const out: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    out[name] = value
  })
  res.writeHead(response.status, out)
  if (response.body === null) {
    res.end()
    return
  }
  await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>), res)
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  if (!url.pathname.startsWith('/_peer/')) res.on('close', () => answered.push({ url: req.url ?? '/', status: res.statusCode }))
  const handled = url.pathname.startsWith('/_peer/') ? admin(req, res, url.pathname) : url.pathname.startsWith('/ipfs/') ? gateway(req, res, url) : Promise.resolve(void res.writeHead(404).end())
  handled.catch((err: unknown) => {
    if (res.headersSent) {
      res.destroy()
      return
    }
    res.writeHead(500, { 'content-type': 'text/plain' }).end(err instanceof Error ? err.message : String(err))
  })
})

function stop(): void {
  server.close()
  server.closeAllConnections()
  void helia.stop().finally(() => process.exit(0))
}

server.listen(Number(option('port') ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: (server.address() as AddressInfo).port })}\n`)
})
// helia's CAR walker throws a block it cannot load outside any promise chain (LoadBlockFailedError
// from graph-walker, helia 7.1.15): the response then just ends early. A gateway must outlive that.
process.on('uncaughtException', (err) => process.stderr.write(`uncaught: ${err.stack ?? String(err)}\n`))
process.on('unhandledRejection', (err) => process.stderr.write(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`))
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
setTimeout(stop, lifetimeMs).unref()
