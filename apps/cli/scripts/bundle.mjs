// Bundles the compiled CLI (dist/cli.js and what it imports from @haul/*, undici, multiformats…)
// into dist/bin.js plus lazily loaded chunks in dist/chunks/: Node then resolves and reads a
// handful of files at start-up instead of ≈300 modules, which took ≈70 ms of every `haul get`.
// The dynamic imports stay lazy (an IPFS chunk loads only for an IPFS download).
//
// Two packages stay outside the bundle and are dependencies of this package, found at run time
// from dist/ by createRequire: fs-native-extensions (a native addon) and hash-wasm (loaded one
// algorithm file at a time, on first use). Each package's read of its own package.json (for its
// version) is inlined, so the bundle works wherever it lies.
//
// If esbuild can't load (no prebuilt for this platform), dist/bin.js only imports dist/cli.js:
// slower to start, the same program.
import { readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const entry = join(dist, 'bin.js')
const SHEBANG = '#!/usr/bin/env node\n'

function unbundled(reason) {
  writeFileSync(entry, `${SHEBANG}// Not bundled (${reason}).\nimport './cli.js'\n`)
  chmodSync(entry, 0o755)
  console.warn(`haul: dist/bin.js is not bundled: ${reason}`)
}

/** The version field of the package.json nearest above `file`. */
function ownVersion(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version
    } catch {
      // no package.json here: look higher
    }
  }
  throw new Error(`no package.json above ${file}`)
}

const OWN_PACKAGE_JSON = "createRequire(import.meta.url)('../package.json')"

const inlineOwnPackageJson = {
  name: 'inline-own-package-json',
  setup(build) {
    build.onLoad({ filter: /[\\/](packages[\\/][^\\/]+|apps[\\/]cli)[\\/]dist[\\/].*\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes(OWN_PACKAGE_JSON)) return undefined
      return { contents: source.replaceAll(OWN_PACKAGE_JSON, `(${JSON.stringify({ version: ownVersion(args.path) })})`), loader: 'js' }
    })
  },
}

let esbuild
try {
  esbuild = await import('esbuild')
} catch (err) {
  unbundled(`esbuild did not load: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(0)
}

rmSync(join(dist, 'chunks'), { recursive: true, force: true })
await esbuild.build({
  entryPoints: { bin: join(dist, 'cli.js') },
  outdir: dist,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['fs-native-extensions', 'hash-wasm', 'hash-wasm/*'],
  // CommonJS packages in the bundle (undici) call require for Node's own modules.
  banner: { js: "import { createRequire as haulCreateRequire } from 'node:module'; const require = haulCreateRequire(import.meta.url);" },
  plugins: [inlineOwnPackageJson],
  legalComments: 'none',
  logLevel: 'warning',
})
chmodSync(entry, 0o755)
