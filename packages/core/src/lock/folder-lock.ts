// The folder lock: on a local Linux filesystem every destination of a folder is locked in one
// file, `.haul.lock`, by an OFD lock on one byte of it at an offset taken from the destination's
// name. A small file's transaction then makes no inode for its lock, and removes none: the lock
// file is made by the first download into the folder and removed by the last one out.
//
// The file's bytes, by offset (a lock needs no bytes there; the file stays sparse):
//   [0, 1)            the gate: held shared by every process taking or waiting for a lock here,
//                     so that one removing the file (holding all of it: see tidy) can't unlink
//                     an inode someone is about to lock;
//   RECORDS_AT + …    one slot per name hash: the commit record its last holder left (note), and
//                     the name of the partial file a holder is staging beside the destination
//                     (so that the next holder removes what a killed one left);
//   RANGES_AT + hash  the destinations' locks, one byte each.
import { createHash } from 'node:crypto'
import { closeSync, constants, fstatSync, open as openFd, openSync, readSync, writeSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { abortedError, fsError } from '../errors.js'
import type { DestinationLock, LockRequest } from './lock.js'
import { UNSUPPORTED, errorCode, loadNativeLock, namesInode, unlessAborted, type NativeLockAddon } from './lock-native.js'

/** The folder lock file's name; a destination of that name is locked the per-destination way. */
export const FOLDER_LOCK_NAME = '.haul.lock'

const GATE = 0
const SLOT_BYTES = 4096
const RECORDS_AT = SLOT_BYTES
/**
 * Record slots: names whose hashes share one overwrite each other's (a record only saves work; a
 * forgotten partial of a killed holder is left as a hidden file).
 */
const RECORD_SLOTS = 65536
/** Beyond every slot; 40 bits of the name's hash pick the byte, so two names share one lock about never. */
const RANGES_AT = 2 ** 40

const openAsync = promisify(openFd)

/** Where `name`'s lock byte and record slot are. */
function placeOf(name: string): { range: number; slot: number } {
  const hash = createHash('sha256').update(name).digest()
  return { range: RANGES_AT + hash.readUIntBE(0, 5), slot: RECORDS_AT + (hash.readUInt16BE(5) % RECORD_SLOTS) * SLOT_BYTES }
}

/**
 * Opens the folder's lock file read-write: in the call when it exists (a batch opens it once a
 * file); made through the thread pool when not, as the folder's other inodes are (folder-calls.ts),
 * with its folder if missing (a cache's blob folder before its first blob).
 */
async function openLockFile(request: LockRequest): Promise<number | 'not ours'> {
  const { path } = request
  try {
    return openSync(path, constants.O_RDWR)
  } catch (err) {
    // Another user's lock file in a folder both write to: this user can't lock in it.
    if (errorCode(err) === 'EACCES' || errorCode(err) === 'EPERM') return 'not ours'
    if (errorCode(err) !== 'ENOENT') throw fsError(err, 'open the lock file', path)
  }
  return request.createLockFile((lockFile) => openAsync(lockFile, constants.O_RDWR | constants.O_CREAT, 0o666))
}

/** Whether `path` still names the inode open as `fd` (a process tidying up may have unlinked it). */
function namesOpenInode(fd: number, path: string): Promise<boolean> {
  const open = fstatSync(fd, { bigint: true })
  return namesInode(path, open.ino, open.dev, false)
}

/**
 * Waits for `name`'s byte on the addon's thread. On abort resolves 'aborted' and leaves `fd` to
 * the wait, which when it ends gives back what it got — removing the lock file if it was the
 * last one in it, as any holder letting go does — and closes it: the caller must not touch it.
 */
function waitForRange(addon: NativeLockAddon, fd: number, path: string, range: number, signal: AbortSignal | undefined): Promise<'locked' | 'aborted' | 'interrupted'> {
  const pending = addon.waitForLockRange(fd, range, 1, true).then(
    () => 'locked' as const,
    (err: unknown) => {
      // EINTR: a signal handler without SA_RESTART cut the wait short; the caller waits again.
      if (errorCode(err) === 'EINTR') return 'interrupted' as const
      throw err
    },
  )
  return unlessAborted(pending, signal, async (outcome) => {
    try {
      if (outcome !== 'locked') return
      addon.unlockRange(fd, range, 1)
      if (!holders.has(path)) await tidy(addon, fd, path)
    } finally {
      closeSync(fd)
    }
  })
}

/** What a slot holds for its name: the last commit's record, and the partial being staged. */
interface SlotContent {
  record?: string
  partial?: string
}

/** One slot's bytes, reused: the main thread reads and writes a slot a few times a file. */
const slotBytes = Buffer.allocUnsafe(SLOT_BYTES)

/** `name`'s slot, if the slot holds one for that name. */
function readSlot(fd: number, slot: number, name: string): SlotContent {
  let end = readSync(fd, slotBytes, 0, SLOT_BYTES, slot)
  // A hole (a slot never written) reads as zeros, a blanked one as spaces.
  while (end > 0 && (slotBytes[end - 1] === 0 || slotBytes[end - 1] === 0x20)) end--
  if (end === 0) return {}
  const text = slotBytes.toString('utf8', 0, end)
  const newline = text.indexOf('\n')
  if (newline < 0) return {}
  try {
    if (JSON.parse(text.slice(0, newline)) !== name) return {}
    const { record, partial } = JSON.parse(text.slice(newline + 1)) as SlotContent
    return { ...(typeof record === 'string' ? { record } : {}), ...(typeof partial === 'string' ? { partial } : {}) }
  } catch {
    return {}
  }
}

/** Leaves `content` for `name` in its slot (empty: blanks it); one padded write. Too long for a slot: the record is left out. */
function writeSlot(fd: number, slot: number, name: string, content: SlotContent): void {
  slotBytes.fill(0x20)
  if (content.record !== undefined || content.partial !== undefined) {
    let text = `${JSON.stringify(name)}\n${JSON.stringify(content)}`
    if (Buffer.byteLength(text) > SLOT_BYTES) text = `${JSON.stringify(name)}\n${JSON.stringify({ partial: content.partial })}`
    if (Buffer.byteLength(text) <= SLOT_BYTES) slotBytes.write(text, 0, 'utf8')
  }
  writeSync(fd, slotBytes, 0, SLOT_BYTES, slot)
}

/**
 * This process's holders, by lock file: while another one holds a byte of the file, an attempt
 * to remove it would fail (and a failed lock costs the addon an exception), so none is made.
 */
const holders = new Map<string, number>()

function countHolder(path: string, delta: 1 | -1): number {
  const count = (holders.get(path) ?? 0) + delta
  if (count === 0) holders.delete(path)
  else holders.set(path, count)
  return count
}

/**
 * Removes the lock file if no process is taking, waiting for or holding any lock in it: the
 * whole file taken exclusive in one call proves it (newcomers hold the gate shared from before
 * they check that the path still names their inode until they hold their byte; waiters keep it
 * while they wait). One call, not the gate and then the rest: a tidier that failed holds nothing,
 * so two holders letting go at once never both leave the file behind.
 */
async function tidy(addon: NativeLockAddon, fd: number, path: string): Promise<void> {
  try {
    if (!addon.tryLockRange(fd, GATE, 0, true)) return
    // Through the pool, like the folder's other unlinks: it frees the records' blocks.
    if (await namesOpenInode(fd, path)) await unlink(path)
  } catch {
    // Left for the next one out.
  }
}

/**
 * Takes `name`'s lock in the folder lock file `request.path` (see the top of this file).
 * Returns 'unsupported' when the kernel or filesystem refuses OFD locks (the caller then locks
 * the destination the per-destination way, as every process here will), or when the lock file
 * is another user's and this one may not write it (then this user's processes lock the
 * per-destination way there, and don't exclude that user's: each commit stays whole).
 */
export async function acquireFolderLock(addon: NativeLockAddon, request: LockRequest, name: string): Promise<DestinationLock | 'unsupported'> {
  const { path, signal } = request
  const { range, slot } = placeOf(name)
  let races = 0
  for (;;) {
    const fd = await openLockFile(request)
    if (fd === 'not ours') return 'unsupported'
    let keep = false // true once the lock is returned, or an aborted wait owns the descriptor
    try {
      let gate: boolean
      try {
        gate = addon.tryLockRange(fd, GATE, 1, false)
      } catch (err) {
        if (UNSUPPORTED.has(errorCode(err) ?? '')) return 'unsupported'
        throw fsError(err, 'lock', path)
      }
      // Held exclusive only by a process removing the file, for the microseconds that takes.
      if (!gate) await addon.waitForLockRange(fd, GATE, 1, false).catch((err: unknown) => {
        if (errorCode(err) !== 'EINTR') throw fsError(err, 'lock', path)
      })
      if (await namesOpenInode(fd, path)) {
        let locked = addon.tryLockRange(fd, range, 1, true)
        let waited = false
        if (!locked) {
          request.busy()
          request.waiting()
          request.throwIfAborted()
          const outcome = await waitForRange(addon, fd, path, range, signal).catch((err: unknown) => {
            throw fsError(err, 'wait for the lock on', path)
          })
          if (outcome === 'aborted') {
            keep = true
            throw abortedError(signal)
          }
          locked = waited = outcome === 'locked'
        }
        races = waited ? 0 : races + 1
        if (locked) {
          request.throwIfAborted()
          addon.unlockRange(fd, GATE, 1)
          keep = true
          countHolder(path, 1)
          return folderLock(addon, fd, path, name, range, slot)
        }
      } else races++
      if (races > request.maxRaces) throw fsError(new Error('the lock file kept being replaced'), 'lock', path)
    } finally {
      // Closing drops every lock this description holds.
      if (!keep) closeSync(fd)
    }
    await request.lostRace(races)
  }
}

function folderLock(addon: NativeLockAddon, fd: number, path: string, name: string, range: number, slot: number): DestinationLock {
  const found = readSlot(fd, slot, name)
  let released = false
  // What this holder left in the slot (undefined: nothing yet), and whether it noted a record.
  let written: SlotContent | undefined
  let noted = false
  const write = (content: SlotContent): void => {
    written = undefined // unknown until the write is done
    writeSlot(fd, slot, name, content)
    written = content
  }
  return {
    path,
    kind: 'ofd',
    folderLock: true,
    handedOver: found.record,
    leftover: found.partial,
    async note(record: string): Promise<void> {
      if (released) return
      try {
        // The partial stays named until the release: a kill before the rename leaves it.
        const partial = (written ?? found).partial
        write({ record, ...(partial === undefined ? {} : { partial }) })
        noted = true
      } catch {
        // The record only saves work.
      }
    },
    async notePartial(partial: string | undefined): Promise<void> {
      if (released) return
      const record = (written ?? found).record
      write({ ...(record === undefined ? {} : { record }), ...(partial === undefined ? {} : { partial }) })
    },
    async release(record?: string): Promise<void> {
      if (released) return
      released = true
      try {
        // A record only read stays for the others that waited with this holder (each reader
        // checks it against the file's inode); one this holder noted goes with its failure.
        // The partial's name may stay: the commit renamed the file, or the failure removed it,
        // and the next holder only removes a leftover it finds (a write saved per file).
        const keep = record ?? (noted ? undefined : found.record)
        if ((written ?? found).record !== keep) write(keep === undefined ? {} : { record: keep })
      } catch {
        // The record only saves work.
      }
      try {
        addon.unlockRange(fd, range, 1)
        if (countHolder(path, -1) === 0) await tidy(addon, fd, path)
      } finally {
        closeSync(fd)
      }
    },
  }
}

/** What `haul status` reads of a destination in its folder's lock file. */
export interface FolderLockState {
  /** Whether a process holds the destination's byte (undefined: can't tell). */
  held: boolean | undefined
  /** The partial a holder noted it stages beside the destination (base name), if any. */
  partial: string | undefined
}

/**
 * Reads `destination`'s state in its folder's lock file, without its lock. It asks whether the
 * byte is held by taking it shared for a moment, so a process trying to take it exclusive right
 * then finds it busy (and waits that moment, or fails under noWait).
 */
export function folderLockState(destination: string): FolderLockState {
  let fd: number
  try {
    fd = openSync(join(dirname(destination), FOLDER_LOCK_NAME), constants.O_RDONLY)
  } catch (err) {
    return { held: errorCode(err) === 'ENOENT' ? false : undefined, partial: undefined }
  }
  try {
    const name = basename(destination)
    const { range, slot } = placeOf(name)
    const partial = readSlot(fd, slot, name).partial
    const native = loadNativeLock()
    if ('error' in native) return { held: undefined, partial }
    if (!native.addon.tryLockRange(fd, range, 1, false)) return { held: true, partial }
    native.addon.unlockRange(fd, range, 1)
    return { held: false, partial }
  } catch {
    return { held: undefined, partial: undefined }
  } finally {
    closeSync(fd)
  }
}
