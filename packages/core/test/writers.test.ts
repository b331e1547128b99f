import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { parseWriterName, writerName } from '../src/stage/writers.js'

/** Names made by a worker thread of this process, loading core's built module as a library user would. */
function namesFromWorker(count: number): Promise<string[]> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    import(workerData.module).then(({ writerName }) => parentPort.postMessage(Array.from({ length: workerData.count }, () => writerName())))`
  const worker = new Worker(code, { eval: true, workerData: { module: new URL('../dist/stage/writers.js', import.meta.url).href, count } })
  return new Promise((resolve, reject) => {
    worker.once('message', (names: string[]) => void worker.terminate().then(() => resolve(names)))
    worker.once('error', reject)
  })
}

describe('writer names', () => {
  it('are new every time, name this process, and differ between the worker threads of one process', async () => {
    const here = Array.from({ length: 1000 }, () => writerName())
    const [a, b] = await Promise.all([namesFromWorker(500), namesFromWorker(500)])
    const all = [...here, ...a, ...b]
    expect(new Set(all).size).toBe(all.length)
    for (const name of all) expect(parseWriterName(name)).toMatchObject({ pid: process.pid })
    expect(new Set(all.map((name) => parseWriterName(name)!.start)).size).toBe(1)
  })
})
