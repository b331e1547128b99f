/**
 * The verified CAR floor of Node.js on a socket: what node-car-floor.ts does (every block hashed
 * against its CID's digest, the raw leaves written in the order they arrive, the file's SHA-256 on
 * a second thread), with the socket read as haul's body path reads it instead of through
 * `node:http`: a `net` socket with `onread` into one reused 1 MiB buffer, the chunked framing and
 * the CAR sections split by hand. Each section is copied once out of the read buffer, into memory
 * of its own (reused once the worker hands it back), its leaf written with `writeSync` from there,
 * then moved to the worker, which checks the block against its CID and hashes a leaf into the
 * file's SHA-256 in one message each way. The socket pauses while 16 blocks wait for the worker.
 * No DAG checks (the leaves' order and the tree are trusted), no rotation, journal, lock or fsync.
 * CIDv1 with sha2-256 and a chunked `HTTP/1.1 200` only (what the bench's gateway sends). Fails
 * unless every block matches its CID and the file has the digest given.
 *
 *   node node-car-socket-floor.js URL OUT SHA256
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { sectionHead } from './car-section.js'
import { floorGet } from './floor-get.js'

const MAX_IN_FLIGHT = 16

const [href, out, expected] = process.argv.slice(2)
if (href === undefined || out === undefined || expected === undefined) throw new Error('usage: node-car-socket-floor.js URL OUT SHA256')
const fd = openSync(out, 'w')

interface Job {
  buffer: ArrayBuffer
  /** The section's length; the block is [at, length) of it. */
  length: number
  at: number
  digest: Uint8Array
  leaf: boolean
}

const worker = new Worker(
  `const { parentPort } = require('node:worker_threads')
   const { createHash } = require('node:crypto')
   const file = createHash('sha256')
   parentPort.on('message', (m) => {
     if (m === 'end') return parentPort.postMessage(file.digest('hex'))
     const block = new Uint8Array(m.buffer, m.at, m.length - m.at)
     const digest = createHash('sha256').update(block).digest()
     if (!digest.equals(m.digest)) return parentPort.postMessage('a block does not match its CID')
     if (m.leaf) file.update(block)
     parentPort.postMessage(m.buffer, [m.buffer])
   })`,
  { eval: true },
)

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

/** Memory handed back by the worker, for the next sections. */
const spare: ArrayBuffer[] = []
let inFlight = 0
let paused = false
let leafBytes = 0
let headerSeen = false

/** A whole section: CIDv1 (version, codec, multihash), then the block. */
function section(bytes: Uint8Array): void {
  if (!headerSeen) {
    headerSeen = true // the CAR header (roots, version): nothing the floor checks
    return
  }
  const head = sectionHead(bytes)
  if (typeof head === 'string') fail(head)
  const { leaf, digest, blockAt: at } = head
  if (leaf) {
    writeSync(fd, bytes, at, bytes.length - at)
    leafBytes += bytes.length - at
  }
  const job: Job = { buffer: bytes.buffer as ArrayBuffer, length: bytes.length, at, digest, leaf }
  worker.postMessage(job, [job.buffer])
  inFlight++
}

// The CAR stream: a section's length (a varint, gathered a byte at a time), then its bytes.
let lengthValue = 0
let lengthShift = 0
let current: Uint8Array | undefined
let filled = 0

function carBytes(bytes: Uint8Array, from: number, to: number): void {
  for (let at = from; at < to; ) {
    if (current === undefined) {
      const byte = bytes[at++]!
      lengthValue += (byte & 0x7f) * 2 ** lengthShift
      lengthShift += 7
      if (byte >= 0x80) continue
      const memory = spare.pop()
      current = memory !== undefined && memory.byteLength >= lengthValue ? new Uint8Array(memory, 0, lengthValue) : new Uint8Array(lengthValue)
      filled = 0
      lengthValue = 0
      lengthShift = 0
      continue
    }
    const n = Math.min(to - at, current.length - filled)
    current.set(bytes.subarray(at, at + n), filled)
    filled += n
    at += n
    if (filled === current.length) {
      const whole = current
      current = undefined
      section(whole)
    }
  }
}

// The chunked framing: a hex size line, the chunk, CRLF; a zero size ends the body.
let state: 'size' | 'data' | 'crlf' | 'done' = 'size'
let sizeLine = ''
let chunkLeft = 0
let crlfLeft = 0

function bodyBytes(bytes: Uint8Array, from: number, to: number): void {
  for (let at = from; at < to && state !== 'done'; ) {
    if (state === 'size') {
      const byte = bytes[at++]!
      if (byte === 0x0a) {
        chunkLeft = Number.parseInt(sizeLine, 16)
        if (Number.isNaN(chunkLeft)) fail(`a chunk size line reads ${JSON.stringify(sizeLine)}`)
        sizeLine = ''
        state = chunkLeft === 0 ? 'done' : 'data'
      } else if (byte !== 0x0d) sizeLine += String.fromCharCode(byte)
    } else if (state === 'data') {
      const n = Math.min(to - at, chunkLeft)
      carBytes(bytes, at, at + n)
      at += n
      chunkLeft -= n
      if (chunkLeft === 0) {
        state = 'crlf'
        crlfLeft = 2
      }
    } else {
      at++
      if (--crlfLeft === 0) state = 'size'
    }
  }
  if (state === 'done') finish()
}

function finish(): void {
  closeSync(fd)
  socket.destroy()
  if (current !== undefined || lengthShift !== 0) fail('the CAR ended inside a section')
  if (leafBytes === 0) fail('no leaves in the CAR')
  worker.postMessage('end')
}

const socket = floorGet(href, {
  buffer: Buffer.allocUnsafe(1024 * 1024),
  framing: 'chunked',
  accept: 'application/vnd.ipld.car',
  body(bytes: Uint8Array): boolean {
    bodyBytes(bytes, 0, bytes.length)
    if (inFlight >= MAX_IN_FLIGHT && !paused) {
      paused = true
      socket.pause()
    }
    return true
  },
})
socket.on('error', (err) => fail(err.message))

worker.on('message', (m: unknown) => {
  if (typeof m === 'string') {
    if (m !== expected.toLowerCase()) fail(m.length === 64 ? `sha256 ${m}, expected ${expected}` : m)
    void worker.terminate()
    return
  }
  spare.push(m as ArrayBuffer)
  inFlight--
  if (paused && inFlight < MAX_IN_FLIGHT) {
    paused = false
    socket.resume()
  }
})
