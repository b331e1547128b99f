/**
 * The least a Node.js program does to save a list of small files, JOBS at a time: `node:http` on
 * kept-alive connections, each body gathered in memory, then written one of two ways:
 *
 * - `plain`: `writeFile` onto the destination (open, write, close), as aria2c does. A crash can
 *   leave a short file there; nothing is durable.
 * - `durable`: the smallest commit that can't leave a short file and survives a power cut once
 *   reported: a temporary file beside the destination, fsync, rename onto it, fsync of the folder.
 * - `staged`: the calls haul's commit makes that create, write, sync, rename or remove, in its
 *   order and in its layout (the staging folder `.NAME.haul`, its lock file, the writer's lone
 *   partial in it; docs/DESIGN.md's table of a small file's calls), without the lock
 *   itself, the reads that check, and everything haul computes: what haul's layout costs the
 *   filesystem before any of haul's code runs.
 *
 * Each file is named from its URL's last segment. The bench runs both beside haul and aria2c, so
 * the table shows what the runtime and the durability cost before haul adds anything.
 *
 *   node node-batch-floor.js LIST JOBS DIR plain|durable|staged
 */
import { constants, readFileSync } from 'node:fs'
import { mkdir, open, rename, rmdir, unlink, writeFile, type FileHandle } from 'node:fs/promises'
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

/**
 * haul's layout for a body that arrives in one piece: `.NAME.haul/lock` and the writer's lone
 * partial `.NAME.haul/w.ID.part` (no writer's folder: none is made without a journal), made and
 * removed around the commit.
 */
async function saveStaged(path: string, body: Buffer): Promise<void> {
  const root = join(dir!, `.${basename(path)}.haul`)
  await mkdir(root)
  const lock: FileHandle = await open(join(root, 'lock'), constants.O_RDWR | constants.O_CREAT)
  const data = join(root, `w.${process.pid}.part`)
  await writeSynced(data, body)
  await lock.write('{"committed":true}', 0)
  await rename(data, path)
  await syncFolder()
  await unlink(join(root, 'lock'))
  await lock.close()
  await rmdir(root)
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
agent.destroy()
