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
import { connect } from 'node:net'
import { FloorHead } from './floor-head.js'

const [href, out] = process.argv.slice(2)
if (href === undefined || out === undefined) throw new Error('usage: node-socket-floor.js URL OUT')
const url = new URL(href)
const fd = openSync(out, 'w')
const buffer = Buffer.allocUnsafe(1024 * 1024)
const head = new FloorHead(href)
let left = Number.POSITIVE_INFINITY
const socket = connect({
  host: url.hostname,
  port: Number(url.port || 80),
  onread: {
    buffer,
    callback(n: number, chunk: Uint8Array): boolean {
      let body = chunk.subarray(0, n)
      if (!head.done) {
        const got = head.take(body)
        if (got === undefined) return true
        left = got.length
        body = got.body
      }
      writeSync(fd, body)
      left -= body.length
      if (left <= 0) {
        closeSync(fd)
        socket.destroy()
      }
      return true
    },
  },
})
socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`)
