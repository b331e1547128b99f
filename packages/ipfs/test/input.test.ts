import { describe, expect, it } from 'vitest'
import { isHaulError } from '@haul/core'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { parseIpfsInput } from '../src/input.js'

const V0 = 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'
const V1 = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'

describe('parseIpfsInput', () => {
  it('accepts ipfs://, /ipfs/ and bare CIDs, v0 and v1, with and without a path', () => {
    expect(parseIpfsInput(V0)).toMatchObject({ path: [], id: `ipfs://${V0}` })
    expect(parseIpfsInput(`ipfs://${V1}`).cid.version).toBe(1)
    expect(parseIpfsInput(`/ipfs/${V1}/a/b%20c.txt`)).toMatchObject({ path: ['a', 'b c.txt'], id: `ipfs://${V1}/a/b%20c.txt` })
    expect(parseIpfsInput(`ipfs://${V0}/dir/`).path).toEqual(['dir'])
  })

  it('rejects malformed input with HAUL_USAGE', () => {
    for (const bad of ['', 'ipfs://', 'not-a-cid', `ipfs://${V0.slice(0, -3)}`, `/ipfs/${V1}/../etc`, `/ipfs/${V1}/%E0%A4%A`, 'https://example.com/x']) {
      let error: unknown
      try {
        parseIpfsInput(bad)
      } catch (err) {
        error = err
      }
      expect(isHaulError(error, 'HAUL_USAGE'), bad).toBe(true)
    }
  })

  it('rejects codecs that are not UnixFS and hashes that cannot be verified', () => {
    const cbor = CID.createV1(0x71, CID.parse(V1).multihash).toString()
    expect(() => parseIpfsInput(cbor)).toThrow(expect.objectContaining({ code: 'HAUL_USAGE' }))
    const blake3 = CID.createV1(raw.code, { code: 0x1e, size: 32, digest: new Uint8Array(32), bytes: Uint8Array.of(0x1e, 32, ...new Uint8Array(32)) }).toString()
    expect(() => parseIpfsInput(blake3)).toThrow(expect.objectContaining({ code: 'HAUL_USAGE' }))
  })

  it('accepts identity CIDs', () => {
    const cid = CID.createV1(raw.code, identity.digest(new TextEncoder().encode('hello')))
    expect(parseIpfsInput(cid.toString()).cid.multihash.code).toBe(identity.code)
  })
})

describe('parseIpfsInput with dag-cbor and dag-json roots', () => {
  it('accepts one with a path (which may lead to UnixFS) and refuses one without', () => {
    const digest = CID.parse(V1).multihash
    for (const code of [0x71, 0x0129]) {
      const cid = CID.createV1(code, digest).toString()
      expect(parseIpfsInput(`ipfs://${cid}/files/single`)).toMatchObject({ path: ['files', 'single'] })
      expect(() => parseIpfsInput(cid)).toThrow(expect.objectContaining({ code: 'HAUL_USAGE', message: expect.stringMatching(/give a path/) }))
    }
    // a codec whose nodes hold no links is never a way to UnixFS
    expect(() => parseIpfsInput(`${CID.createV1(0x51, digest).toString()}/x`)).toThrow(expect.objectContaining({ code: 'HAUL_USAGE' }))
  })
})
