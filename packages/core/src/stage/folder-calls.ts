import { closeSync, fstatSync, fsync, openSync, readdirSync, statfsSync, statSync, writeSync, type Stats, type StatsFs } from 'node:fs'
import { mkdir, open, readdir, rename, rmdir, stat, statfs, unlink, type FileHandle } from 'node:fs/promises'
import { ensureDir } from '../ensure-dir.js'
import { fsError } from '../errors.js'
import { filesystemKind, type FilesystemKind } from '../lock/fs-kind.js'

/**
 * The calls a transaction makes in its destination's folder: metadata (the staging root, the
 * writer's folder, the destination's name) and the writes of its staged files. Every fsync goes
 * through libuv's thread pool whatever the folder; these calls need not.
 */
export interface FolderCalls {
  /** Writes `buffer[offset, offset + length)` at `position` of a file open in this folder; the bytes written. */
  write(file: FileHandle, buffer: Buffer, offset: number, length: number, position: number): Promise<number>
  /** Appends `text` at the file's current position (a journal). */
  writeText(file: FileHandle, text: string): Promise<void>
  /** The entry's Stats, undefined when there is none (or it can't be examined). */
  statIfAny(path: string): Promise<Stats | undefined>
  /** The Stats of a file open in this folder (a staged file, before its commit's rename). */
  fstat(file: FileHandle): Promise<Stats>
  mkdir(path: string): Promise<void>
  readdir(path: string): Promise<string[]>
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  /** Makes the folder `folder` (it may be there already) and renames `from` to `to` in it. */
  moveIntoNewFolder(folder: string, from: string, to: string): Promise<void>
  statfs(path: string): Promise<StatsFs>
  /** Opens a directory to fsync it (the fsync itself always runs on the thread pool). */
  openDirectory(path: string): Promise<DirectoryHandle>
}

/** A directory opened for its fsync. */
export interface DirectoryHandle {
  sync(): Promise<void>
  close(): Promise<void>
}

/** Elsewhere (a network filesystem, whose server may stall, or one not classified yet): through the thread pool. */
const ASYNC: FolderCalls = {
  write: async (file, buffer, offset, length, position) => (await file.write(buffer, offset, length, position)).bytesWritten,
  writeText: async (file, text) => {
    await file.write(text)
  },
  statIfAny: (path) => stat(path).catch(() => undefined),
  fstat: (file) => file.stat(),
  mkdir: async (path) => {
    await mkdir(path)
  },
  readdir: (path) => readdir(path),
  rename,
  unlink,
  rmdir,
  moveIntoNewFolder: async (folder, from, to) => {
    await mkdir(folder).catch(ignoreExists)
    await rename(from, to)
  },
  statfs: (path) => statfs(path),
  openDirectory: (path) => open(path, 'r'),
}

/**
 * On a local filesystem the calls that only read run synchronously: they take a few microseconds
 * there (ext4: stat 10 µs, readdir of a staging folder 6, statfs 2, opening a folder 5), while a
 * call through the thread pool costs a wake-up of a pool thread and one back to the main thread —
 * 50–150 µs of the main thread on a busy 2-core machine. So do the writes of staged files: a write
 * into the page cache is a copy (a MiB in ≈ 0.3 ms), which the pool only moved to another core at
 * the price of two wake-ups and of reading bytes another core had just written (1 GiB verified:
 * 1.31 → 1.19 s median, 1.19 → 1.17 s without fsync, 6 rounds A/B). The calls that make, rename or
 * remove entries stay on the pool (ext4 here: mkdir 40–75 µs of kernel work, create 60–120, rmdir 60;
 * unlinking a large partial frees its blocks): made synchronous, that work lands on the event
 * loop's core, and a batch of 300 small files took 0.65 → 0.74 s (A/B); so does every fsync (a
 * folder is opened and closed here, synced there). The promise is kept, so errors still arrive
 * as rejections.
 */
const SYNC: FolderCalls = {
  ...ASYNC,
  write: async (file, buffer, offset, length, position) => writeSync(file.fd, buffer, offset, length, position),
  writeText: async (file, text) => {
    writeSync(file.fd, text)
  },
  statIfAny: async (path) => {
    try {
      return statSync(path, { throwIfNoEntry: false })
    } catch {
      return undefined
    }
  },
  fstat: async (file) => fstatSync(file.fd),
  readdir: async (path) => readdirSync(path),
  statfs: async (path) => statfsSync(path),
  openDirectory: async (path) => {
    const fd = openSync(path, 'r')
    return {
      sync: () => new Promise<void>((resolve, reject) => fsync(fd, (err) => (err === null ? resolve() : reject(err)))),
      close: async () => closeSync(fd),
    }
  },
}

/** EEXIST is no error for a folder about to be used (it is this writer's, from an attempt whose move failed). */
function ignoreExists(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err
}

/** Folders of this process's destinations known to be on a local filesystem. */
const LOCAL_FOLDERS = new Set<string>()

/** The destination folders this process created or found lately, with what filesystem holds them. */
const FOLDERS = new Map<string, { kind: Promise<FilesystemKind | undefined>; at: number }>()

/**
 * How long what {@link openFolder} found stays trusted: a batch into one folder asks about once a
 * second, not once a file, and a long-running process still sees a filesystem mounted over the
 * folder (or the folder removed) within that time.
 */
const FOLDER_KNOWN_MS = 1000

/** Folders remembered at most (see {@link openFolder}). */
const MAX_FOLDERS_KNOWN = 1024

/**
 * Creates a destination's folder (and missing parents) and tells what filesystem holds it, at
 * most about once a second per folder (see {@link FOLDER_KNOWN_MS}). A folder removed meanwhile
 * is created again by the lock, which makes sure of its own folder inside.
 * @throws HaulError (HAUL_IO and kin) when the folder can't be created
 */
export function openFolder(folder: string): Promise<FilesystemKind | undefined> {
  const known = FOLDERS.get(folder)
  if (known !== undefined && Date.now() - known.at < FOLDER_KNOWN_MS) return known.kind
  const kind = ensureDir(folder).then(
    async () => {
      const found = await filesystemKind(folder)
      if (found?.network === false) LOCAL_FOLDERS.add(folder)
      else LOCAL_FOLDERS.delete(folder)
      return found
    },
    (err: unknown) => {
      throw fsError(err, 'create the folder', folder)
    },
  )
  const entry = { kind, at: Date.now() }
  // Both are caches: a process that downloads into very many folders starts them over.
  if (FOLDERS.size >= MAX_FOLDERS_KNOWN) {
    FOLDERS.clear()
    LOCAL_FOLDERS.clear()
  }
  FOLDERS.set(folder, entry)
  // A failure is not remembered: the next download into the folder tries again.
  kind.catch(() => {
    if (FOLDERS.get(folder) === entry) FOLDERS.delete(folder)
  })
  return kind
}

/** The calls to use in `folder` (a destination's parent) and the staging folders inside it. */
export function folderCalls(folder: string): FolderCalls {
  return callsFor(!LOCAL_FOLDERS.has(folder))
}

/** The calls for a filesystem already classified (the lock knows its own): through the pool on a network one. */
export function callsFor(network: boolean): FolderCalls {
  return network ? ASYNC : SYNC
}
