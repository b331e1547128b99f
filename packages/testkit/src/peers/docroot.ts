import { randomBytes } from 'node:crypto'
import { mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Options for {@link Docroot.put}. */
export interface PutOptions {
  /**
   * The file's modification time. A real server derives its ETag and Last-Modified from it, and
   * some treat a file modified in the last second or minute specially (Apache's weak ETag, its
   * refusal of If-Range dates), so a test chooses: a date in the past for a file that has sat on
   * the server a while, or now (the default) for one that was just deployed.
   * @default now
   */
  mtime?: Date
}

/** The folder a peer serves, owned by the test. */
export class Docroot {
  private constructor(readonly path: string) {}

  /** A fresh folder under the system's temp folder. */
  static async create(prefix = 'haul-docroot-'): Promise<Docroot> {
    return new Docroot(await mkdtemp(join(tmpdir(), prefix)))
  }

  /**
   * Writes `name` (a plain file name) atomically, as a deploy does: the bytes go to a temporary
   * file, which is renamed over the old one. A response already being sent keeps the old inode;
   * requests that start after this resolves open the new file (a server's own cache aside).
   */
  async put(name: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    if (name.includes('/') || name.startsWith('.')) throw new Error(`Docroot.put takes a plain file name, got ${name}`)
    const temp = join(this.path, `.${name}.${randomBytes(4).toString('hex')}.tmp`)
    await writeFile(temp, bytes)
    if (options.mtime !== undefined) await utimes(temp, options.mtime, options.mtime)
    await rename(temp, join(this.path, name))
  }

  /** Removes the folder and everything in it. */
  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true })
  }
}
