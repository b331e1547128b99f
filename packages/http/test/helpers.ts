import { randomBytes } from 'node:crypto'
import type { ReadResponse } from '@haul/core'
import { startOrigin, type Origin, type OriginOptions } from '@haul/testkit'
import { afterEach } from 'vitest'
import { HttpSource, type HttpSourceOptions } from '../src/http-source.js'

/** Deterministic-enough test content. */
export function bytes(n: number): Buffer {
  return randomBytes(n)
}

/** Collects a read's body. */
export async function collect(res: ReadResponse): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of res.body) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A signal that ends any read a broken test would leave hanging. */
export function deadline(): AbortSignal {
  return AbortSignal.timeout(20_000)
}

/**
 * Origins and sources created through these helpers are closed after each test.
 */
export function harness(): {
  origin(options: OriginOptions): Promise<Origin>
  source(url: string, options?: HttpSourceOptions): HttpSource
} {
  const origins: Origin[] = []
  const sources: HttpSource[] = []
  afterEach(async () => {
    await Promise.all([...sources.splice(0).map((s) => s.close()), ...origins.splice(0).map((o) => o.close())])
  })
  return {
    async origin(options) {
      const o = await startOrigin(options)
      origins.push(o)
      return o
    },
    source(url, options) {
      const s = new HttpSource(url, options)
      sources.push(s)
      return s
    },
  }
}
