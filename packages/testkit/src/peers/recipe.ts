/** The servers the peer harness can start. */
export type PeerKind = 'nginx' | 'apache' | 'lighttpd' | 'lighttpd-minimal' | 'caddy' | 'python-http'

/** What a recipe gets to write its config. */
export interface PeerLaunchContext {
  /** The server's executable. */
  bin: string
  /** A port on 127.0.0.1 that was free a moment ago. */
  port: number
  /** The folder to serve. */
  docroot: string
  /** A private folder for config, pid and log files. */
  workDir: string
  /** The test runs as root (some servers would otherwise drop to a user who can't read the docroot). */
  root: boolean
}

/** How to run one server in the foreground. */
export interface PeerLaunch {
  command: string
  args: string[]
  /** Variables set over the test's environment. */
  env?: Record<string, string>
  /** Files to write first, by absolute path. */
  files: Record<string, string>
  /** A log worth showing when the server fails to start. */
  logFile?: string
}

/** One kind of real server: which binary, which Debian package, and how to start it. */
export interface PeerRecipe {
  kind: PeerKind
  /** Executable name, looked up in PATH and the sbin folders (findBinary). */
  binary: string
  /** The Debian package that installs it (for skip reasons and `.ci/run`). */
  aptPackage: string
  launch(context: PeerLaunchContext): PeerLaunch
}
