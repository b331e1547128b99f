/** Default values for the IPFS driver, in one place. */

/**
 * Public trustless gateways tried in turn when the caller names none (and `HAUL_GATEWAYS` is unset).
 * Each one is verified block by block, so none is trusted.
 */
export const DEFAULT_GATEWAYS: readonly string[] = Object.freeze([
  'https://trustless-gateway.link',
  'https://ipfs.io',
  'https://dweb.link',
])

/** A block larger than this is refused (the IPFS network's own limit is 2 MiB). */
export const DEFAULT_MAX_BLOCK_BYTES = 2 * 1024 * 1024

/** Verified blocks kept in memory for out-of-order arrival and duplicates, per read. */
export const DEFAULT_BLOCK_CACHE_BYTES = 8 * 1024 * 1024

/** Bytes of blocks the walk did not ask for that a gateway may send in one read before it counts as lying. */
export const DEFAULT_MAX_UNREQUESTED_BYTES = 16 * 1024 * 1024

/** Deepest DAG (file tree or path through shards) that is walked. */
export const DEFAULT_MAX_DAG_DEPTH = 64

/** Raw blocks fetched ahead at once when a gateway answers block by block. */
export const DEFAULT_RAW_PARALLEL = 4

/** Entries one directory listing may hold (HAMT shards included) before it is refused. */
export const DEFAULT_MAX_DIRECTORY_ENTRIES = 100_000

/** Files and folders one directory download may hold in all. */
export const DEFAULT_MAX_TREE_ENTRIES = 1_000_000

/**
 * Files of a directory tree up to this size are read whole from the tree's stream and written
 * with one fsync each, several at once; bigger ones go through core's resumable transaction.
 */
export const DEFAULT_TREE_SMALL_FILE_BYTES = 1024 * 1024

/** Small files of a tree being written and fsynced at once (ext4 folds their fsyncs into few journal commits). */
export const DEFAULT_TREE_WRITES_IN_FLIGHT = 8
