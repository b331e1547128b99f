/**
 * The least a Node.js program does to save a list of small files, JOBS at a time: `node:http` on
 * kept-alive connections, each body gathered in memory, then written one of two ways:
 *
 * - `plain`: `writeFile` onto the destination (open, write, close), as aria2c does. A crash can
 *   leave a short file there; nothing is durable.
 * - `durable`: the smallest commit that can't leave a short file and survives a power cut once
 *   reported: a temporary file beside the destination, fsync, rename onto it, fsync of the folder.
 * - `staged`: the calls haul's commit makes that create, write, sync, rename or remove, in its
 *   order and in its layout (the folder's lock file `.haul.lock` opened and its record slot
 *   written, the lone partial `.NAME.haul.part` beside the destination; docs/DESIGN.md's table
 *   of a small file's calls), without the lock itself, the reads that check, and everything haul
 *   computes: what haul's layout costs the filesystem before any of haul's code runs.
 *
 * Each file is named from its URL's last segment. The bench runs both beside haul and aria2c, so
 * the table shows what the runtime and the durability cost before haul adds anything.
 *
 *   node node-batch-floor.js LIST JOBS DIR plain|durable|staged
 */
import { constants, readFileSync } from 'node:fs'
import { open, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises'
import { Agent, get } from 'node:http'
import { basename, join } from 'node:path'

const [list, jobsArg, dir, mode] = process.argv.slice(2)
if (list === undefined || jobsArg === undefined || dir === undefined || (mode !== 'plain' && mode !== 'durable' && mode !== 'staged')) {
  throw new Error('usage: node-batch-floor.js LIST JOBS DIR plain|durable|staged')
}
const urls = readFileSync(list, 'utf8').split('\n').filter((line) => line !== '')
const jobs = Number(jobsArg)
const agent = new Agent({ keepAlive: true, maxSockets: jobs })

function fetchBody(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        return reject(new Error(`${url} answered ${String(res.statusCode)}`))
      }
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve(Buffer.concat(chunks)))
      res.on('error', reject)
    }).on('error', reject)
  })
}

/** `body` into a new file at `temp`, fsynced and closed. */
async function writeSynced(temp: string, body: Buffer): Promise<void> {
  const file = await open(temp, 'w+')
  try {
    await file.write(body, 0, body.length, 0)
    await file.sync()
  } finally {
    await file.close()
  }
}

async function syncFolder(): Promise<void> {
  const folder = await open(dir!, 'r')
  try {
    await folder.sync()
  } finally {
    await folder.close()
  }
}

async function saveDurably(path: string, body: Buffer): Promise<void> {
  const temp = join(dir!, `.${basename(path)}.tmp`)
  await writeSynced(temp, body)
  await rename(temp, path)
  await syncFolder()
}

/** The folder's lock file, opened by the first file (haul makes it once and removes it after the last). */
let folderLock: Promise<FileHandle> | undefined

/**
 * haul's layout for a body that arrives in one piece: a byte of the folder's lock file
 * `.haul.lock` (no inode per file: the file is opened, its record slot written), and the lone
 * partial `.NAME.haul.part` beside the destination (no staging folder: none is made without a
 * journal), renamed onto it.
 */
async function saveStaged(path: string, body: Buffer): Promise<void> {
  folderLock ??= open(join(dir!, '.haul.lock'), constants.O_RDWR | constants.O_CREAT)
  await folderLock
  const lock: FileHandle = await open(join(dir!, '.haul.lock'), constants.O_RDWR)
  const data = join(dir!, `.${basename(path)}.haul.part`)
  await writeSynced(data, body)
  await lock.write(Buffer.alloc(4096, 32), 0, 4096, 4096 * (1 + (next % 16384)))
  await rename(data, path)
  await syncFolder()
  await lock.close()
}

let next = 0
async function worker(): Promise<void> {
  for (let i = next++; i < urls.length; i = next++) {
    const url = urls[i]!
    const body = await fetchBody(url)
    const path = join(dir!, basename(new URL(url).pathname))
    if (mode === 'plain') await writeFile(path, body)
    else if (mode === 'durable') await saveDurably(path, body)
    else await saveStaged(path, body)
  }
}

await Promise.all(Array.from({ length: Math.min(jobs, urls.length) }, () => worker()))
if (folderLock !== undefined) {
  await (await folderLock).close()
  await unlink(join(dir!, '.haul.lock'))
}
agent.destroy()
