// The fallback lock, for when no OFD lock is available: a Linux abstract-namespace unix socket
// named after the canonical lock path. Binding the name is the lock (EADDRINUSE: held), and the
// kernel frees the name the moment the holder's socket closes, however the holder dies.
//
// What it does not cover:
// - Abstract names are per network namespace: processes in different containers (or
//   `unshare -n`) that share the destination folder do not see each other's locks.
// - Other hosts: a folder shared over NFS/SMB is locked per host only.
// - The same folder reached through different mounts (bind mounts) has different canonical
//   paths, hence different names.
// - Processes using the OFD kind (the lock kind differs, or one has the addon and one hasn't) do not
//   exclude socket holders. Correctness never rests on the lock alone (each writer stages into
//   its own file), so these cases cost duplicate downloads, not corrupt files.
//
// The lock file is still created while the lock is held, only so that nobody removes its folder
// under the holder (as with the OFD kind); it carries no lock and no record.
import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, realpath, unlink } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { basename, dirname, join } from 'node:path'
import { HaulError, abortedError, fsError } from '../errors.js'
import { isGone } from '../fs-race.js'
import type { DestinationLock, LockRequest, ReleaseOptions } from './lock.js'

/** Records are a few hundred bytes; a peer sending more is not a haul holder. */
const MAX_RECORD_BYTES = 64 * 1024

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * The abstract socket name for the lock: canonical path = realpath(folder) + basename, so that
 * every spelling of the path (relative, through symlinks) meets on one name. Also checks that the
 * folder is writable, so that a read-only destination fails before waiting, as with OFD.
 */
async function socketName(request: LockRequest): Promise<string> {
  const { path } = request
  for (let race = 0; ; race++) {
    try {
      await request.ensureFolder()
      const folder = await realpath(dirname(path))
      await access(folder, constants.W_OK)
      const canonical = join(folder, basename(path))
      return '\0haul-lock-' + createHash('sha256').update(canonical).digest('hex')
    } catch (err) {
      // ENOENT/ESTALE: the folder was removed between our mkdir and realpath (a holder cleaning
      // up, here or on another host sharing the folder).
      if (!isGone(err) || race >= request.maxRaces) throw fsError(err, 'create the lock file', path)
    }
    await request.lostRace(race + 1)
  }
}

/** Binds the name; undefined when someone else holds it. */
function listen(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (err) => {
      if (errorCode(err) === 'EADDRINUSE') resolve(undefined)
      else reject(err)
    })
    server.listen({ path: name }, () => resolve(server))
  })
}

type Wait = { outcome: 'released'; record: string | undefined } | { outcome: 'refused' | 'aborted' }

/**
 * Connects to the holder and waits, without polling, for the connection to close: the holder
 * closes it on release (after sending its record) and the kernel closes it if the holder dies.
 * `onConnected` runs once the connection is queued at the holder, which from then on owes us
 * its record (see `release` below).
 */
function waitForHolder(name: string, signal: AbortSignal | undefined, onConnected: () => void): Promise<Wait> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ path: name })
    const chunks: Buffer[] = []
    let size = 0
    let connected = false
    let aborted = false
    const onAbort = (): void => {
      aborted = true
      socket.destroy()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.on('connect', () => {
      connected = true
      onConnected()
      if (signal?.aborted === true) onAbort()
    })
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_RECORD_BYTES) socket.destroy()
      else chunks.push(chunk)
    })
    // ECONNREFUSED/EAGAIN before connecting, ECONNRESET after: both end in 'close'.
    socket.on('error', () => undefined)
    socket.on('close', () => {
      signal?.removeEventListener('abort', onAbort)
      if (aborted) resolve({ outcome: 'aborted' })
      else if (!connected) resolve({ outcome: 'refused' })
      else resolve({ outcome: 'released', record: parseRecord(Buffer.concat(chunks).toString('utf8')) })
    })
  })
}

/**
 * The holder sends `JSON.stringify(record ?? null)` and a newline. A holder killed mid-write
 * leaves no newline (or no valid JSON), and a partial record is worse than none.
 */
function parseRecord(text: string): string | undefined {
  if (!text.endsWith('\n')) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'string' && value !== '' ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Takes the abstract-socket lock for `request.path`. Waiters connect to the holder and retry the
 * bind when that connection closes; all of them wake at once and one wins, the others connect to
 * the winner. The most recent record a holder sent is kept as `handedOver`.
 */
export async function acquireSocketLock(request: LockRequest): Promise<DestinationLock> {
  const { path, signal } = request
  if (process.platform !== 'linux') {
    throw new HaulError('HAUL_IO', `No lock is available for ${path}: the native lock addon did not load and the socket fallback needs Linux.`, { path })
  }
  const name = await socketName(request)
  let handedOver: string | undefined
  // Refused connections in a row: the name was bound but not listening yet, or its holder had
  // just closed. Only a foreign process binding our name without listening makes this endless.
  for (let refused = 0; ; ) {
    request.throwIfAborted()
    let server: Server | undefined
    try {
      server = await listen(name)
    } catch (err) {
      throw fsError(err, 'bind the lock socket for', path)
    }
    if (server !== undefined) {
      // Waiters may connect from now on: the lock must track them before anything else is awaited.
      const lock = socketLock(server, name, path, handedOver)
      try {
        request.throwIfAborted()
        await (await request.openLockFile()).close()
      } catch (err) {
        await lock.release().catch(() => undefined)
        throw err
      }
      return lock
    }
    request.busy()
    const wait = await waitForHolder(name, signal, () => request.waiting())
    if (wait.outcome === 'aborted') throw abortedError(signal)
    if (wait.outcome === 'released') {
      refused = 0
      if (wait.record !== undefined) handedOver = wait.record
    } else if (++refused > request.maxRaces) {
      throw new HaulError('HAUL_IO', `Could not reach the process holding the lock socket for ${path}: it refuses connections. Another program may be using the same abstract socket name.`, { path })
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

function socketLock(server: Server, name: string, path: string, handedOver: string | undefined): DestinationLock {
  const waiters = new Set<Socket>()
  // Identifies our own connection in `release`; waiters never send anything.
  const sentinel = randomBytes(16).toString('hex')
  let drained: (() => void) | undefined
  server.on('connection', (socket) => {
    // Keeping the waiter's connection open is what makes it wait.
    socket.unref()
    socket.on('error', () => undefined)
    waiters.add(socket)
    socket.on('close', () => waiters.delete(socket))
    socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8') !== sentinel) return
      waiters.delete(socket)
      socket.destroy()
      drained?.()
    })
  })
  // Failed accepts leave the waiter in the backlog, where it is served on the next one.
  server.on('error', () => undefined)
  // Like an OFD lock, holding the lock must not keep the process alive.
  server.unref()
  let released = false
  return {
    path,
    kind: 'socket',
    handedOver,
    // Records travel only over the connections of live waiters here: a holder killed before its
    // release hands nothing over.
    note: () => Promise.resolve(),
    async release(record?: string, options: ReleaseOptions = {}): Promise<void> {
      if (released) return
      released = true
      // Closing the listener resets the connections still in its backlog, and their record
      // would be lost. The backlog is accepted in order, so once our own connection, queued
      // now, is accepted, every waiter that connected before this release has been too.
      await new Promise<void>((resolve) => {
        drained = resolve
        const self = connect({ path: name }, () => self.end(sentinel))
        // Backlog full: the waiters still queued get no record, only the lock.
        self.on('error', () => resolve())
        self.on('close', () => resolve())
      })
      let failure: unknown
      if (options.keepFile !== true) {
        await unlink(path).catch((err: unknown) => {
          if (!isGone(err)) failure = fsError(err, 'remove the lock file', path)
        })
      }
      // Free the name before sending: a waiter that reads the record and binds again must find
      // it free.
      server.close()
      const payload = JSON.stringify(record ?? null) + '\n'
      await Promise.all(
        [...waiters].filter((socket) => !socket.destroyed).map(
          (socket) =>
            new Promise<void>((resolve) => {
              socket.once('close', () => resolve())
              socket.end(payload, () => resolve())
            }),
        ),
      )
      if (failure !== undefined) throw failure
    },
  }
}
