/**
 * The verified socket floor of Node.js: the socket floor (node-socket-floor.ts) with SHA-256 of
 * every byte on a second thread, as haul hashes, and nothing else — no HTTP library, no journal,
 * no lock, no fsync. Reads land through `onread` in 1 MiB slots of one SharedArrayBuffer ring;
 * each is written with `writeSync`, then its place is posted to a hash worker, which hashes the
 * slots in order and acknowledges each; the socket pauses while the ring is full. What a
 * verified download costs the runtime on this machine, next to curl (which verifies nothing).
 * Plain http, a Content-Length response only. Fails unless the bytes have the digest given.
 *
 *   node node-verified-floor.js URL OUT SHA256
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { Worker } from 'node:worker_threads'
import { FloorHead } from './floor-head.js'

const SLOT = 1024 * 1024
const SLOTS = 32

const [href, out, expected] = process.argv.slice(2)
if (href === undefined || out === undefined || expected === undefined) throw new Error('usage: node-verified-floor.js URL OUT SHA256')
const url = new URL(href)
const fd = openSync(out, 'w')
const ring = new SharedArrayBuffer(SLOT * SLOTS)

const worker = new Worker(
  `const { parentPort, workerData } = require('node:worker_threads')
   const { createHash } = require('node:crypto')
   const { ring } = workerData
   const hash = createHash('sha256')
   parentPort.on('message', (m) => {
     if (m === 'end') return parentPort.postMessage(hash.digest('hex'))
     hash.update(new Uint8Array(ring, m.offset, m.length))
     parentPort.postMessage(1)
   })`,
  { eval: true, workerData: { ring } },
)

let filled = 0 // slots handed to the worker (a running count)
let hashed = 0 // slots the worker has said it is done with
const head = new FloorHead(href)
let left = Number.POSITIVE_INFINITY
let paused = false

function slotView(): Uint8Array {
  return new Uint8Array(ring, (filled % SLOTS) * SLOT, SLOT)
}

function full(): boolean {
  return filled - hashed >= SLOTS
}

const socket = connect({
  host: url.hostname,
  port: Number(url.port || 80),
  onread: {
    buffer: slotView,
    callback(n: number, chunk: Uint8Array): boolean {
      let body = chunk.subarray(0, n)
      if (!head.done) {
        const got = head.take(body)
        if (got === undefined) return true
        left = got.length
        // The first body bytes lie in the head's copy: back into the slot, hashed from the ring like the rest.
        const view = slotView()
        view.set(got.body)
        body = view.subarray(0, got.body.length)
      }
      writeSync(fd, body)
      left -= body.length
      // A slot is taken only by bytes handed to the worker (the head's read may bring none).
      if (body.length > 0) {
        worker.postMessage({ offset: body.byteOffset, length: body.length })
        filled++
      }
      if (left <= 0) {
        closeSync(fd)
        socket.destroy()
        worker.postMessage('end')
        return false
      }
      if (full()) {
        paused = true
        return false
      }
      return true
    },
  },
})
worker.on('message', (m: unknown) => {
  if (typeof m === 'string') {
    if (m !== expected.toLowerCase()) {
      process.stderr.write(`sha256 ${m}, expected ${expected}\n`)
      process.exitCode = 1
    }
    void worker.terminate()
    return
  }
  hashed++
  if (paused && !full()) {
    paused = false
    socket.resume()
  }
})
socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`)
