// The published packages as a user gets them: `pnpm pack` each one, install the tarballs into an
// empty project with npm, offline (the third-party dependencies are packed from this checkout's
// node_modules, so nothing comes from a registry), then run `haul` and import the libraries.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { findBinary, startOrigin, testBytes, type Origin } from '@haul/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PUBLISHED = ['packages/core', 'packages/http', 'packages/ipfs', 'apps/cli']
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

interface Manifest {
  name: string
  version: string
  private?: boolean
  bin?: Record<string, string>
  man?: string[]
  exports?: Record<string, unknown>
  files?: string[]
  repository?: { type: string; url: string; directory: string }
  license?: string
  engines?: { node?: string }
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest

/** npm and pnpm read npm_* variables (pnpm sets many for its scripts): the install gets none. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
}

/** The folder `name` resolves to from `from`, as Node looks it up (pnpm's layout included). */
function resolvePackage(from: string, name: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', name, 'package.json'))) return realpathSync(join(d, 'node_modules', name))
    if (dirname(d) === d) return undefined
  }
}

/** Every third-party package the published ones need at run time, as installed here. */
function runtimeDependencies(): string[] {
  const found = new Set<string>()
  const walk = (dir: string): void => {
    const m = manifest(dir)
    for (const name of Object.keys({ ...m.dependencies, ...m.optionalDependencies })) {
      if (name.startsWith('@haul/')) continue
      const at = resolvePackage(dir, name)
      if (at === undefined) {
        if (m.optionalDependencies?.[name] === undefined) throw new Error(`${name}, a dependency of ${m.name}, is not installed`)
        continue
      }
      if (found.has(at)) continue
      found.add(at)
      walk(at)
    }
  }
  for (const p of PUBLISHED) walk(join(ROOT, p))
  return [...found]
}

/** `pnpm` as the running test was started with it, else the one on PATH. */
function pnpmCommand(): [string, string[]] {
  const execPath = process.env.npm_execpath
  if (execPath !== undefined && /pnpm/.test(execPath) && /\.c?js$/.test(execPath)) return [process.execPath, [execPath]]
  return ['pnpm', []]
}

let work: string
let origin: Origin
const data = testBytes(256 * 1024)
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'haul-pack-'))
  origin = await startOrigin({ files: { '/f.bin': data } })
}, 120_000)
afterAll(async () => {
  await origin?.close()
  await rm(work, { recursive: true, force: true })
})

describe.skipIf(findBinary('tar') === undefined || findBinary('npm') === undefined)('published packages (skipped: tar or npm not installed)', () => {
  it('every package has exports, files, repository, license and engines; testkit and benchmarks stay private', () => {
    for (const p of PUBLISHED) {
      const m = manifest(join(ROOT, p))
      expect(m.private, p).toBeUndefined()
      expect(m.name, p).toMatch(/^@haul\//)
      expect(Object.keys(m.exports ?? {}), p).toContain('.')
      expect(m.files, p).toEqual(['dist'])
      expect(m.repository, p).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\//), directory: p })
      expect(m.license, p).toBe('MIT')
      expect(m.engines?.node, p).toBe('>=20.18')
    }
    expect(manifest(join(ROOT, 'apps/cli'))).toMatchObject({ name: '@haul/cli', bin: { haul: './dist/bin.js' }, man: ['./dist/haul.1'] })
    for (const p of ['packages/testkit', 'benchmarks']) expect(manifest(join(ROOT, p)).private, p).toBe(true)
  })

  it("the README's set-up commands pin the pnpm that package.json pins (by version and sha512)", () => {
    const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }).packageManager
    expect(pinned).toMatch(/^pnpm@\d+\.\d+\.\d+\+sha512\.[0-9a-f]{128}$/)
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const setup = readme.slice(readme.indexOf('## Set up'), readme.indexOf('## The CLI'))
    const used = [...setup.matchAll(/npx -y (pnpm@[^\s`]+)/g)].map((m) => m[1])
    expect(used.length).toBeGreaterThanOrEqual(3)
    for (const spec of used) expect(spec).toBe(pinned.split('+')[0])
  })

  it(
    'pnpm pack, npm install --offline into an empty project: haul --version and a real get run, and @haul/http and @haul/ipfs export download',
    async () => {
      const tarballs = join(work, 'tarballs')
      await mkdir(tarballs)
      const [pnpm, pnpmArgs] = pnpmCommand()
      await Promise.all(PUBLISHED.map((p) => run(pnpm, [...pnpmArgs, 'pack', '--pack-destination', tarballs], { cwd: join(ROOT, p), env: cleanEnv() })))
      const ours = (await readdir(tarballs)).sort()
      expect(ours).toEqual(['haul-cli-0.1.0.tgz', 'haul-core-0.1.0.tgz', 'haul-http-0.1.0.tgz', 'haul-ipfs-0.1.0.tgz'])
      const cliFiles = (await run('tar', ['-tzf', join(tarballs, 'haul-cli-0.1.0.tgz')])).stdout.split('\n')
      expect(cliFiles).toEqual(expect.arrayContaining(['package/package.json', 'package/dist/bin.js', 'package/dist/haul.1']))
      // dist/bin.js is the bundle (scripts/bundle.mjs); its lazily loaded parts are in dist/chunks.
      expect(cliFiles.some((f) => f.startsWith('package/dist/chunks/'))).toBe(true)
      expect(cliFiles.some((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toBe(false)
      const packed = JSON.parse((await run('tar', ['-xzOf', join(tarballs, 'haul-cli-0.1.0.tgz'), 'package/package.json'])).stdout) as Manifest
      // The two packages the bundle leaves outside (a native addon, hash-wasm's per-algorithm files) are its own dependencies.
      expect(packed.dependencies).toEqual({ '@haul/core': '0.1.0', '@haul/http': '0.1.0', '@haul/ipfs': '0.1.0', 'fs-native-extensions': '^1.5.1', 'hash-wasm': '^4.12.0' })

      // The dependencies as installed here, packed as npm packs (a hard link inside is stored as a file).
      const deps = join(work, 'deps')
      await mkdir(deps)
      await Promise.all(
        runtimeDependencies().map((at) => {
          const m = manifest(at)
          const file = join(deps, `${m.name.replace('@', '').replace('/', '-')}-${m.version}.tgz`)
          return run('tar', ['--hard-dereference', '-czf', file, '-C', at, '--transform', 's,^\\.,package,', '.'])
        }),
      )

      const project = join(work, 'project')
      await mkdir(project)
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true, type: 'module' }))
      const all = [...ours.map((t) => join(tarballs, t)), ...(await readdir(deps)).map((t) => join(deps, t))]
      // --offline with an empty cache and a registry nobody listens on: a fetch would fail the test.
      await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--cache', join(work, 'npm-cache'), '--registry', 'http://127.0.0.1:9/', ...all], { cwd: project, env: cleanEnv(), timeout: 120_000 })

      const haul = join(project, 'node_modules', '.bin', 'haul')
      expect((await run(haul, ['--version'], { cwd: project })).stdout).toBe('haul 0.1.0\n')
      // The OFD lock only: the installed bundle must find the native addon.
      await run(haul, ['get', origin.url('/f.bin'), '-o', 'got.bin', '-q', '--sha256', sha256(data)], { cwd: project, env: { ...cleanEnv(), HAUL_LOCK: 'ofd' } })
      expect(sha256(await readFile(join(project, 'got.bin')))).toBe(sha256(data))
      expect(existsSync(join(project, 'node_modules', '@haul', 'cli', 'dist', 'haul.1'))).toBe(true)

      const script = [
        "import { download } from '@haul/http'",
        "import { download as ipfsDownload } from '@haul/ipfs'",
        'console.log(typeof download, typeof ipfsDownload)',
        `const r = await download(${JSON.stringify(origin.url('/f.bin'))}, { output: 'lib.bin' })`,
        'console.log(r.sha256)',
      ].join('\n')
      await writeFile(join(project, 'use.mjs'), script)
      const { stdout } = await run(process.execPath, ['use.mjs'], { cwd: project })
      expect(stdout).toBe(`function function\n${sha256(data)}\n`)
      expect(existsSync(join(project, 'node_modules', '@haul', 'http', 'dist', 'index.d.ts'))).toBe(true)
    },
    180_000,
  )
})
