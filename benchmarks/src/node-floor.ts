/**
 * The least a Node.js client does to save a URL: undici's `request`, the body piped into a file.
 * Nothing is verified, journaled or fsynced. The bench runs it beside haul and curl so the tables
 * show which part of haul's time is the runtime's own (start-up, undici, the stream machinery).
 *
 *   node node-floor.js URL OUT
 */
import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { request } from 'undici'

const [url, out] = process.argv.slice(2)
if (url === undefined || out === undefined) throw new Error('usage: node-floor.js URL OUT')
const response = await request(url)
if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`)
await pipeline(response.body, createWriteStream(out))
