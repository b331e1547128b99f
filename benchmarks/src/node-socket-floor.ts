/**
 * The socket floor of Node.js: one GET on a `net` socket whose reads land, through `onread`, in
 * one reused 1 MiB buffer, each written to the file with `writeSync` before the next read. No
 * HTTP library, no streams, nothing verified, journaled or fsynced: what the runtime itself can
 * move from a socket to a file, next to the undici floor (node-floor.ts), which is what a
 * stream-shaped client starts from. Plain http, a Content-Length response only.
 *
 *   node node-socket-floor.js URL OUT
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { floorGet } from './floor-get.js'

const [href, out] = process.argv.slice(2)
if (href === undefined || out === undefined) throw new Error('usage: node-socket-floor.js URL OUT')
const fd = openSync(out, 'w')
let left = Number.POSITIVE_INFINITY
const socket = floorGet(href, {
  buffer: Buffer.allocUnsafe(1024 * 1024),
  body(bytes: Uint8Array, length: number, fromHead: boolean): boolean {
    if (fromHead) left = length
    writeSync(fd, bytes)
    left -= bytes.length
    if (left <= 0) {
      closeSync(fd)
      socket.destroy()
    }
    return true
  },
})
