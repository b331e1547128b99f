import { basename, dirname, join } from 'node:path'

/**
 * Where things live under a cache folder:
 * - `blobs/sha256/<hex>`: one verified file per SHA-256.
 * - `blobs/cid/<cid>`: a symlink to `../sha256/<hex>` for content fetched by CID.
 * - `incoming/<hash of the source>`: where a download without a known digest lands before it is
 *   filed under its SHA-256.
 * - `blobs/sha256/.<hex>.gc`: a blob `gc` retired, kept for a grace period so that a download on
 *   another host that was about to link it can still take it back (see {@link tombFor}).
 */
export class CacheLayout {
  /** Absolute path of the cache folder. */
  readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  /** The folder of the SHA-256 blobs. */
  get blobs(): string {
    return join(this.dir, 'blobs', 'sha256')
  }

  /** The folder of the CID aliases. */
  get aliases(): string {
    return join(this.dir, 'blobs', 'cid')
  }

  /** Where the blob with this SHA-256 (lowercase hex) lives. */
  blobPath(sha256: string): string {
    return join(this.blobs, sha256)
  }

  /** Where the alias for this CID key lives (a symlink to the SHA-256 blob). */
  cidPath(key: string): string {
    return join(this.aliases, key)
  }

  /** Where a download with this source identity hash lands before it is filed. */
  incomingPath(idHash: string): string {
    return join(this.dir, 'incoming', idHash)
  }
}

/**
 * Where `gc` moves the blob at `blob` before removing it for good: beside it, under a name that
 * follows from the blob's, so that a download whose link of the blob failed (gc on another host
 * took it) can find it with one lookup and rename it back.
 */
export function tombFor(blob: string): string {
  return join(dirname(blob), `.${basename(blob)}.gc`)
}
