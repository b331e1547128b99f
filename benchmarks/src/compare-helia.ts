import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { heliaClientCommand, node22, startHeliaGateway } from '@haul/helia-peer'
import { storeCar, testBytes, UnixfsStore } from '@haul/testkit'
import { formatSize } from './config.js'
import { cleanDir, expectSize, haulArgv, outDir, type BenchContext } from './context.js'
import { alternate, medianRatio } from './measure.js'
import { ratioTarget, type ComparisonResult } from './result.js'

const MiB = 1024 * 1024
/** Files in the HAMT folder, and the size of each. */
const FOLDER_FILES = 1000
const FOLDER_FILE_BYTES = 1024
/** The big file (a quick run takes a sixteenth). */
const FILE_BYTES = 64 * MiB

/**
 * 6. haul against helia's own client (@helia/unixfs over trustless gateway routing, on Node 22),
 * both fetching from one helia gateway (helia + @helia/verified-fetch, packages/helia-peer): a
 * 1000-file HAMT-sharded folder, and a 64 MiB file (CIDv1, raw leaves of 1 MiB: Kubo's
 * unixfs-v1-2025 chunking). Both clients verify every block.
 */
export async function compareHelia(ctx: BenchContext): Promise<ComparisonResult> {
  const binary = node22()
  if ('missing' in binary) throw new Error(`comparison 6 needs Node 22 for helia: ${binary.missing}`)
  const scale = ctx.config.quick ? 16 : 1
  const fileBytes = FILE_BYTES / scale
  const folderFiles = FOLDER_FILES / (ctx.config.quick ? 10 : 1)
  ctx.log(`  importing a ${folderFiles}-file HAMT folder and a ${formatSize(fileBytes)} file (ipfs-unixfs-importer)`)
  const store = new UnixfsStore()
  const file = await store.addFile(testBytes(fileBytes), { profile: 'raw-leaves', chunkSize: MiB })
  const entries = Array.from({ length: folderFiles }, (_, i) => ({ path: `f${String(i).padStart(4, '0')}.bin`, content: testBytes(FOLDER_FILE_BYTES, i + 1) }))
  const folder = (await store.addDirectory(entries, { profile: 'raw-leaves', shardSplitThresholdBytes: 1 })).cid
  const gateway = await startHeliaGateway({ lifetimeMs: 60 * 60_000 })
  try {
    await gateway.loadCar(await storeCar(store, folder))
    const dir = outDir(ctx, 'helia')
    const prepare = (): void => cleanDir(dir)
    const folderOut = join(dir, 'folder')
    const fileOut = join(dir, 'file.bin')
    const checkFolder = (): void => {
      const n = readdirSync(folderOut).length
      if (n !== folderFiles) throw new Error(`${folderOut} has ${n} entries, expected ${folderFiles}`)
    }
    const helia = (source: string, output: string): string[] => {
      const { command, args } = heliaClientCommand({ gateway: gateway.url, source, output })
      return [command, ...args]
    }
    const rows = await alternate(
      ctx.tools.time!,
      [
        { label: `haul: ${folderFiles}-file HAMT folder`, argv: haulArgv(ctx, [`ipfs://${folder}`, '--gateway', gateway.url, '-o', folderOut, '-q']), prepare, check: checkFolder },
        { label: `helia (@helia/unixfs): ${folderFiles}-file HAMT folder`, argv: helia(folder.toString(), folderOut), prepare, check: checkFolder },
        { label: `haul: ${formatSize(fileBytes)} file`, argv: haulArgv(ctx, [`ipfs://${file}`, '--gateway', gateway.url, '-o', fileOut, '-q']), prepare, check: () => expectSize(fileOut, fileBytes) },
        { label: `helia (@helia/unixfs): ${formatSize(fileBytes)} file`, argv: helia(file.toString(), fileOut), prepare, check: () => expectSize(fileOut, fileBytes) },
      ],
      ctx.config.pairs,
      dir + '.scratch',
      ctx.log,
    )
    const [haulFolder, heliaFolder, haulFile, heliaFile] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]]
    const folderRatio = medianRatio(haulFolder, heliaFolder)
    const fileRatio = medianRatio(haulFile, heliaFile)
    const requests = await gateway.requests()
    return {
      id: '6-helia',
      title: `haul vs helia's own client, from a helia gateway: a ${folderFiles}-file HAMT folder and a ${formatSize(fileBytes)} file`,
      bytes: fileBytes,
      rows,
      ratios: [
        { of: haulFolder.label, to: heliaFolder.label, median: folderRatio },
        { of: haulFile.label, to: heliaFile.label, median: fileRatio },
      ],
      targets: [
        ratioTarget('haul / helia, HAMT folder', 1.0, folderRatio),
        ratioTarget('haul / helia, file', 0.5, fileRatio),
      ],
      notes: [
        `The gateway is an offline helia node answering through @helia/verified-fetch on Node 22 (packages/helia-peer); helia's client is @helia/unixfs over a helia node whose only block broker is that gateway, also on Node 22. haul runs on ${process.version}.`,
        `The gateway answered ${requests.length} requests over all rounds (haul asks a folder as one dag-scope=all CAR; helia's client asks block by block).`,
      ],
    }
  } finally {
    await gateway.close()
  }
}
