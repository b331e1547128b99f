/**
 * Real servers on 127.0.0.1 with scripted faults, and child-process helpers, for haul's tests.
 * Every server listens on port 0 and closes itself (explicitly, or after its lifetime).
 * @packageDocumentation
 */
export * from './http-origin.js'
export * from './gateway.js'
export * from './process.js'
export * from './bytes.js'
export * from './tls.js'
export * from './proxy.js'
export * from './binary.js'
export * from './peers/index.js'
export * from './sshfs.js'
