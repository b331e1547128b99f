/**
 * The `haul` command line. The library API lives in `@haul/http` and `@haul/ipfs`.
 * @packageDocumentation
 */
export { main } from './main.js'
export { EXIT_CODES, SEVERITY, exitCodeFor, mostSevere } from './exit-codes.js'
export { safeFileName } from './file-name.js'
