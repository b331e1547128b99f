/**
 * The testkit gateway in its own process, so its CPU is not the bench's: imports one file as
 * CIDv1 with raw leaves, prints `{"url","cid"}` on stdout, and exits when its stdin closes (the
 * bench ended or died).
 *
 *   node gateway-server.js FILE
 */
import { readFileSync } from 'node:fs'
import { startGateway, UnixfsStore } from '@haul/testkit'

const file = process.argv[2]
if (file === undefined) throw new Error('usage: gateway-server.js FILE')
const store = new UnixfsStore()
const cid = await store.addFile(readFileSync(file), { profile: 'raw-leaves' })
const gateway = await startGateway({ store, lifetimeMs: 24 * 3600_000 })
process.stdout.write(`${JSON.stringify({ url: gateway.url, cid: cid.toString() })}\n`)
process.stdin.resume()
process.stdin.on('end', () => void gateway.close().then(() => process.exit(0)))
process.stdin.on('error', () => void gateway.close().then(() => process.exit(0)))
