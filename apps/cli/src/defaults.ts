/** Default values for the command line's own options, in one place. */

/** Files a batch downloads at once (`-j`). */
export const DEFAULT_JOBS = 4
/** Connections open at once across every file of a batch (`--max-connections`). */
export const DEFAULT_MAX_CONNECTIONS = 16
/** Milliseconds between progress lines when stderr is not a terminal. */
export const DEFAULT_PLAIN_INTERVAL_MS = 5000
/** Milliseconds between redraws of the live view on a terminal. */
export const DEFAULT_TTY_INTERVAL_MS = 200
