/**
 * The verified socket floor of Node.js: the socket floor (node-socket-floor.ts) with SHA-256 of
 * every byte on a second thread, as haul hashes, and nothing else — no HTTP library, no journal,
 * no lock, no fsync. Reads land through `onread` in 1 MiB slots of one SharedArrayBuffer ring;
 * each is written with `writeSync`, then its place is posted to a hash worker, which hashes the
 * slots in order and says how far it got; the socket pauses while the ring is full. What a
 * verified download costs the runtime on this machine, next to curl (which verifies nothing).
 * Plain http, a Content-Length response only. Fails unless the bytes have the digest given.
 *
 *   node node-verified-floor.js URL OUT SHA256
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { Worker } from 'node:worker_threads'

const SLOT = 1024 * 1024
const SLOTS = 32

const [href, out, expected] = process.argv.slice(2)
if (href === undefined || out === undefined || expected === undefined) throw new Error('usage: node-verified-floor.js URL OUT SHA256')
const url = new URL(href)
const fd = openSync(out, 'w')
const ring = new SharedArrayBuffer(SLOT * SLOTS)
// hashed[0]: slots the worker has finished (a running count).
const hashed = new Int32Array(new SharedArrayBuffer(4))

const worker = new Worker(
  `const { parentPort, workerData } = require('node:worker_threads')
   const { createHash } = require('node:crypto')
   const { ring, hashed } = workerData
   const hash = createHash('sha256')
   parentPort.on('message', (m) => {
     if (m === 'end') return parentPort.postMessage(hash.digest('hex'))
     hash.update(new Uint8Array(ring, m.offset, m.length))
     Atomics.add(hashed, 0, 1)
     parentPort.postMessage(1)
   })`,
  { eval: true, workerData: { ring, hashed } },
)

let filled = 0 // slots handed to the worker (a running count)
let head: Buffer | undefined = Buffer.alloc(0)
let left = Number.POSITIVE_INFINITY
let paused = false

function slotView(): Uint8Array {
  return new Uint8Array(ring, (filled % SLOTS) * SLOT, SLOT)
}

function full(): boolean {
  return filled - Atomics.load(hashed, 0) >= SLOTS
}

const socket = connect({
  host: url.hostname,
  port: Number(url.port || 80),
  onread: {
    buffer: slotView,
    callback(n: number, chunk: Uint8Array): boolean {
      let body = chunk.subarray(0, n)
      if (head !== undefined) {
        head = Buffer.concat([head, body])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return true
        const text = head.toString('latin1', 0, end)
        if (!text.startsWith('HTTP/1.1 200')) throw new Error(`${href} answered ${text.split('\r\n')[0]}`)
        const length = /\r\ncontent-length: *(\d+)/i.exec(text)
        if (length === null) throw new Error(`${href} sent no Content-Length`)
        left = Number(length[1])
        // The first body bytes lie in the head's copy: hash them here, from the ring like the rest.
        const first = head.subarray(end + 4)
        head = undefined
        const view = slotView()
        view.set(first)
        body = view.subarray(0, first.length)
      }
      writeSync(fd, body)
      left -= body.length
      if (body.length > 0) worker.postMessage({ offset: body.byteOffset, length: body.length })
      filled++
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
  } else if (paused && !full()) {
    paused = false
    socket.resume()
  }
})
socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`)
