import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { followIpldPath } from '../src/ipld-path.js'

const digest = (bytes: Uint8Array): ReturnType<typeof Digest.create> => Digest.create(sha256.code, createHash('sha256').update(bytes).digest())
const leaf = CID.createV1(raw.code, digest(new TextEncoder().encode('leaf')))
const value = { files: { single: leaf, list: [1, leaf, { deep: leaf }] }, bytes: new Uint8Array(3), text: 'x' }

describe('followIpldPath', () => {
  for (const [name, codec, code] of [['dag-cbor', dagCbor, 0x71], ['dag-json', dagJson, 0x0129]] as const) {
    const bytes = codec.encode(value)
    const cid = CID.createV1(code, digest(bytes))

    it(`${name}: follows map keys and list indices to the first link, and hands on the rest of the path`, async () => {
      const follow = async (path: string[]): Promise<[string, string[]]> => {
        const step = await followIpldPath(cid, bytes, path, 'test')
        return [step.link.toString(), step.rest]
      }
      expect(await follow(['files', 'single'])).toEqual([leaf.toString(), []])
      expect(await follow(['files', 'single', 'more', 'path'])).toEqual([leaf.toString(), ['more', 'path']])
      expect(await follow(['files', 'list', '1'])).toEqual([leaf.toString(), []])
      expect(await follow(['files', 'list', '2', 'deep'])).toEqual([leaf.toString(), []])
    })

    it(`${name}: a name that is not there, an index out of range or not a number, or a path into bytes: HAUL_USAGE`, async () => {
      for (const path of [['nope'], ['files', 'list', '7'], ['files', 'list', '01'], ['files', 'list', 'x'], ['bytes', '0'], ['text', 'length'], ['files', 'constructor']]) {
        await expect(followIpldPath(cid, bytes, path, 'test'), path.join('/')).rejects.toMatchObject({ code: 'HAUL_USAGE' })
      }
    })

    it(`${name}: a path that ends on data, not on a link: HAUL_USAGE`, async () => {
      await expect(followIpldPath(cid, bytes, ['files'], 'test')).rejects.toMatchObject({ code: 'HAUL_USAGE', message: expect.stringMatching(/not a link/) })
      await expect(followIpldPath(cid, bytes, ['text'], 'test')).rejects.toMatchObject({ code: 'HAUL_USAGE' })
    })
  }

  it('a block that is not valid dag-cbor: HAUL_INTEGRITY', async () => {
    const bytes = Uint8Array.of(0xff, 0x00)
    const cid = CID.createV1(0x71, digest(bytes))
    await expect(followIpldPath(cid, bytes, ['x'], 'test')).rejects.toMatchObject({ code: 'HAUL_INTEGRITY' })
  })
})
