import { HaulError, type ReadRequest, type ReadResponse, type Source } from '@haul/core'
import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { BlockGetter } from './blocks.js'
import type { IpfsInput } from './input.js'
import { fileSize, readFile, resolvePath } from './unixfs.js'

/** A marker: the DAG leaves the identity blocks, so the network is needed after all. */
class NeedsNetwork extends Error {}

/** Blocks whose bytes are inside their identity CIDs; any other block means "not inline". */
const inlineBlocks: BlockGetter = {
  async get(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code !== identity.code) throw new NeedsNetwork(cid.toString())
    return cid.multihash.digest
  },
}

/**
 * The file behind an identity CID, read from the CID itself with no request. Returns undefined
 * when the CID is not identity-hashed or its DAG links to blocks that must be fetched.
 */
export async function inlineContent(input: IpfsInput): Promise<Uint8Array | undefined> {
  if (input.cid.multihash.code !== identity.code) return undefined
  try {
    const node = await resolvePath(inlineBlocks, input.cid, input.path, input.id)
    const size = fileSize(node)
    if (size === undefined) throw new HaulError('HAUL_USAGE', `${input.id} is not a file.`, { source: input.id })
    const parts: Uint8Array[] = []
    for await (const part of readFile(inlineBlocks, node, 0, size, input.id)) parts.push(part)
    return Buffer.concat(parts)
  } catch (err) {
    if (err instanceof NeedsNetwork) return undefined
    throw err
  }
}

/** A Source over bytes already in memory (an identity CID's content): no network. */
export class InlineSource implements Source {
  readonly label = 'inline (identity CID)'

  constructor(
    readonly id: string,
    private readonly bytes: Uint8Array,
    private readonly validator: string,
    private readonly fileName?: string,
  ) {}

  async read(request: ReadRequest): Promise<ReadResponse> {
    const end = Math.min(request.end ?? this.bytes.length, this.bytes.length)
    const chunk = this.bytes.subarray(Math.min(request.offset, end), end)
    async function* body(): AsyncGenerator<Uint8Array> {
      if (chunk.length > 0) yield chunk
    }
    return {
      info: { size: this.bytes.length, validator: this.validator, ranges: true, ...(this.fileName === undefined ? {} : { fileName: this.fileName }) },
      offset: request.offset,
      body: body(),
    }
  }
}
