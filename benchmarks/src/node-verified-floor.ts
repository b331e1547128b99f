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
import { Worker } from 'node:worker_threads'
import { floorGet } from './floor-get.js'

const SLOT = 1024 * 1024
const SLOTS = 32

const [href, out, expected] = process.argv.slice(2)
if (href === undefined || out === undefined || expected === undefined) throw new Error('usage: node-verified-floor.js URL OUT SHA256')
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
let left = Number.POSITIVE_INFINITY
let paused = false

function slotView(): Uint8Array {
  return new Uint8Array(ring, (filled % SLOTS) * SLOT, SLOT)
}

function full(): boolean {
  return filled - hashed >= SLOTS
}

const socket = floorGet(href, {
  buffer: slotView,
  body(bytes: Uint8Array, length: number, fromHead: boolean): boolean {
    let body = bytes
    if (fromHead) {
      left = length
      // The first body bytes lie in the head's copy: back into the slot, hashed from the ring like the rest.
      const view = slotView()
      view.set(bytes)
      body = view.subarray(0, bytes.length)
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
