/**
 * Events a download emits: the same objects the CLI prints with `--json`, one a line.
 * `progress.bytes` never decreases; the last event is `done` or `error`.
 */
export type HaulEvent =
  | StartEvent
  | WaitEvent
  | ProgressEvent
  | RetryEvent
  | SourceEvent
  | DoneEvent
  | ErrorEvent
  | NoticeEvent

export interface StartEvent {
  event: 'start'
  /** The source as the caller named it (URL, CID). */
  source: string
  /** The destination path. */
  output: string
  /** Total size in bytes, when known. */
  total?: number
  /** Bytes already verified on disk from an earlier run (0 for a fresh download). */
  resumedFrom: number
}

export interface WaitEvent {
  event: 'wait'
  /** The destination whose lock another process holds. */
  output: string
  /** The lock file waited on. */
  lock: string
}

export interface ProgressEvent {
  event: 'progress'
  bytes: number
  total?: number
  bytesPerSecond: number
  /** Connections currently transferring. */
  connections: number
}

export interface RetryEvent {
  event: 'retry'
  /** The attempt about to start (2 is the first retry). */
  attempt: number
  delayMs: number
  reason: string
  /** The source (URL, gateway) that failed. */
  source?: string
}

export interface SourceEvent {
  event: 'source'
  /** The URL or gateway now in use. */
  source: string
  reason?: string
}

export interface DoneEvent {
  event: 'done'
  path: string
  bytes: number
  sha256: string
  /** True when the file was already there and nothing was fetched. */
  cached?: boolean
}

export interface ErrorEvent {
  event: 'error'
  code: string
  message: string
}

/**
 * Something the user should know that is neither progress nor failure. Match on `code`:
 * - `network-filesystem`: the destination's folder is on a filesystem other hosts may share
 *   (NFS, SMB, sshfs, Lustre…), where haul's lock may exclude only the processes on this host.
 *   The download stays correct; several hosts may each download the file.
 */
export interface NoticeEvent {
  event: 'notice'
  code: 'network-filesystem'
  /** The folder it is about. */
  path: string
  /** The filesystem's name: `nfs`, `cifs`, `fuse.sshfs`, `lustre`, … */
  filesystem: string
  message: string
}

export type EventListener = (event: HaulEvent) => void
