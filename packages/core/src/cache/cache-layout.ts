import { join } from 'node:path'

/**
 * Where things live under a cache folder:
 * - `blobs/sha256/<hex>`: one verified file per SHA-256.
 * - `blobs/cid/<cid>`: a symlink to `../sha256/<hex>` for content fetched by CID.
 * - `incoming/<hash of the source>`: where a download without a known digest lands before it is
 *   filed under its SHA-256.
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
