/**
 * Events a download emits: the same objects the CLI prints with `--json`, one a line.
 * `progress.bytes` never decreases; the last event is `done` or `error`.
 */
export type HaulEvent =
  | StartEvent
  | WaitEvent
  | ProgressEvent
  | RetryEvent
  | RestartEvent
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
  /**
   * Total size in bytes, when known: from an earlier run's journal, the caller, or the first
   * response (`start` waits for the first response, or for the first thing to report before it).
   */
  total?: number
  /** Bytes kept from an earlier run (0 for a fresh download); a `restart` follows if they turn out unusable. */
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
  /** Which retry this is for the source, counted from 1 since its last progress. */
  attempt: number
  delayMs: number
  reason: string
  /** The source (URL, gateway) that failed. */
  source?: string
}

/**
 * Bytes already staged are thrown away and the file starts over from byte 0: the remote changed,
 * it can't resume, or nothing proves the staged bytes belong to the file it serves now.
 */
export interface RestartEvent {
  event: 'restart'
  reason: string
  /** Staged bytes thrown away. */
  discarded: number
  /** The source (URL, gateway) whose answer caused it. */
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

/** Calls `listener` with each event; a listener's bug must not break the download. */
export function guardedEmitter(listener: EventListener | undefined): (event: HaulEvent) => void {
  return (event) => {
    try {
      listener?.(event)
    } catch {
      // Ignored: the download goes on.
    }
  }
}
