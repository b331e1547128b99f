import { readFile, realpath, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { NoticeEvent } from '../events.js'

/** What kind of filesystem a path is on, as far as the lock is concerned. */
export interface FilesystemKind {
  /** A readable name: `nfs`, `cifs`, `fuse.sshfs`, `lustre`, `ext4`, … or the magic in hex. */
  name: string
  /**
   * Whether other hosts may share this folder (a network or cluster filesystem, or FUSE other
   * than a few known local ones). There, haul's lock may exclude processes on this host only:
   * whether it spans hosts depends on the filesystem and its mount options (NFS with lockd or v4
   * usually does; sshfs never does; SMB and Lustre depend on `nobrl`/`flock`/`localflock`).
   */
  network: boolean
  /** The statfs `f_type` magic. */
  magic: number
}

/** statfs magics (linux/magic.h and the vendors' headers) of filesystems other hosts can share. */
const NETWORK: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
  [0x0bd00bd0, 'lustre'],
  [0x00c36400, 'ceph'],
  [0x47504653, 'gpfs'],
  [0x01021997, '9p'],
  [0x5346414f, 'afs'],
  [0x6b414653, 'kafs'],
  [0x73757245, 'coda'],
  [0x564c, 'ncp'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x19830326, 'beegfs'],
  [0xaad7aaea, 'panfs'],
  [0x20030528, 'orangefs'],
])

/** Common local filesystems, only so that `haul status` names them. */
const LOCAL: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0x794c7630, 'overlay'],
  [0x2fc12fc1, 'zfs'],
  [0xf2f52010, 'f2fs'],
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
  [0x5346544e, 'ntfs'],
])

/** FUSE filesystems that keep their data on this host (their locks are as good as a disk's). */
const LOCAL_FUSE = new Set(['fuseblk', 'fuse-overlayfs', 'fuse.fuse-overlayfs', 'fuse.lxcfs', 'fuse.squashfuse', 'fuse.gocryptfs', 'fuse.encfs', 'fuse.ntfs-3g', 'fuse.exfat'])

const FUSE_MAGIC = 0x65735546

/**
 * Tells what kind of filesystem holds `path` (or, if it does not exist yet, its nearest existing
 * parent), from `statfs`'s type and, for FUSE, the mount's type in /proc/self/mountinfo (a FUSE
 * magic alone does not say whether sshfs or a local FUSE filesystem is behind it). Undefined
 * when even the root can't be examined.
 */
export async function filesystemKind(path: string): Promise<FilesystemKind | undefined> {
  for (let at = path, depth = 0; depth < 256; at = dirname(at), depth++) {
    const st = await statfs(at).catch(() => undefined)
    if (st !== undefined) return classify(st.type >>> 0, at)
    if (dirname(at) === at) return undefined
  }
  return undefined
}

async function classify(magic: number, at: string): Promise<FilesystemKind> {
  if (magic === FUSE_MAGIC) {
    const type = await mountType(at)
    return { name: type ?? 'fuse', network: type === undefined || !LOCAL_FUSE.has(type), magic }
  }
  const network = NETWORK.get(magic)
  if (network !== undefined) return { name: network, network: true, magic }
  return { name: LOCAL.get(magic) ?? `0x${magic.toString(16)}`, network: false, magic }
}

/**
 * Whether stat's identity of a file (inode, device, mtime) on this filesystem tells it apart from
 * one renamed over it. Not on a network FUSE filesystem: sshfs, like most, numbers inodes by
 * name (the replacement keeps the number) and keeps mtimes to the second.
 */
export function statIdentityHolds(kind: FilesystemKind | undefined): boolean {
  return kind === undefined || !(kind.network && kind.magic === FUSE_MAGIC)
}

/** The filesystem type of the mount holding `path` (`fuse.sshfs`, `virtiofs`, …), on Linux. */
async function mountType(path: string): Promise<string | undefined> {
  const [real, table] = await Promise.all([realpath(path).catch(() => path), readFile('/proc/self/mountinfo', 'utf8').catch(() => '')])
  let best: { point: string; type: string } | undefined
  for (const line of table.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER-OPTIONS
    const fields = line.split(' ')
    const dash = fields.indexOf('-')
    const point = fields[4]
    const type = fields[dash + 1]
    if (point === undefined || dash < 0 || type === undefined) continue
    const decoded = point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    const inside = decoded === '/' || real === decoded || real.startsWith(`${decoded}/`)
    // Later lines mount over earlier ones at the same point.
    if (inside && (best === undefined || decoded.length >= best.point.length)) best = { point: decoded, type }
  }
  return best?.type
}

/** The `notice` event saying that `folder`, on a network filesystem, gets a host-local lock. */
export function networkNotice(folder: string, kind: FilesystemKind): NoticeEvent {
  return {
    event: 'notice',
    code: 'network-filesystem',
    path: folder,
    filesystem: kind.name,
    message: `${folder} is on ${kind.name}, a network filesystem: haul's lock there may exclude only the processes on this host. Downloads stay correct (each writer stages alone, the first commit wins), but other hosts may download the same file at the same time.`,
  }
}
