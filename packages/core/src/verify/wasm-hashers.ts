import { createRequire } from 'node:module'
import type { IHasher } from 'hash-wasm'

/**
 * hash-wasm's algorithms, each loaded from its own file on first use. The package's index bundles
 * every algorithm (≈ 280 KB of JavaScript and inlined WebAssembly): importing it cost 20–60 ms of
 * every start-up, about a quarter of a small download, where one algorithm's file loads in ≈ 2 ms.
 */
const load = createRequire(import.meta.url)

/** BLAKE2b with a digest of `bits`. */
export function createBLAKE2b(bits: number): Promise<IHasher> {
  return (load('hash-wasm/dist/blake2b.umd.min.js') as typeof import('hash-wasm')).createBLAKE2b(bits)
}

/** BLAKE3. */
export function createBLAKE3(): Promise<IHasher> {
  return (load('hash-wasm/dist/blake3.umd.min.js') as typeof import('hash-wasm')).createBLAKE3()
}
