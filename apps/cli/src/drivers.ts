/**
 * The drivers, each loaded when a source first needs it (undici or the IPFS stack cost ~0.1 s
 * each) and kept: a batch asks for a driver once a file, and a dynamic `import()` of a module
 * already loaded still goes through the module loader (a dozen promises) every time.
 */
let http: Promise<typeof import('@haul/http')> | undefined
let ipfs: Promise<typeof import('@haul/ipfs')> | undefined

export function httpDriver(): Promise<typeof import('@haul/http')> {
  return (http ??= import('@haul/http'))
}

export function ipfsDriver(): Promise<typeof import('@haul/ipfs')> {
  return (ipfs ??= import('@haul/ipfs'))
}
