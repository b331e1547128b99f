// A power-cut approximation on a real ext4 filesystem (a loop-mounted image file): copy the image
// right after `done` — what the block device holds then is what a power cut would leave — and
// mount the copy (its journal replays, as after a crash). The committed file must be there, whole.
// Mounted with commit=600, so only haul's own fsyncs put anything on the device; with the
// fsyncs off (HAUL_FSYNC=0, core's `fsync: false`: the commit stays atomic but is not made
// durable) the same check fails: the rename never reached the disk. Needs root and loop devices; skipped
// with the reason otherwise.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killChildren, spawnNode } from '@haul/testkit'
import { bin, httpScenario, MiB, type Scenario } from './crash-harness.js'

function loopMountable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a loop device'
  try {
    execFileSync('sh', ['-c', 'command -v mkfs.ext4 && command -v losetup'], { stdio: 'pipe' })
  } catch {
    return 'mkfs.ext4 or losetup is missing'
  }
  return undefined
}

const cannot = loopMountable()
if (cannot !== undefined) console.warn(`power-cut: skipped: ${cannot}`)

let work = ''
let scenario: Scenario
const mounted: string[] = []
const mount = (image: string, at: string, options: string): void => {
  execFileSync('mount', ['-o', `loop,${options}`, image, at], { stdio: 'pipe' })
  mounted.push(at)
}
const unmount = (at: string): void => {
  execFileSync('umount', [at], { stdio: 'pipe' })
  mounted.splice(mounted.indexOf(at), 1)
}

beforeAll(async () => {
  if (cannot !== undefined) return
  work = await mkdtemp(join(tmpdir(), 'haul-powercut-'))
  scenario = await httpScenario(4 * MiB, 1)
})
afterAll(async () => {
  await killChildren()
  for (const at of mounted.splice(0)) execFileSync('umount', ['-l', at], { stdio: 'pipe' })
  await scenario?.close()
  if (work !== '') await rm(work, { recursive: true, force: true })
})

/** Downloads onto a fresh ext4 image, copies the image at `done`, and says what the copy holds. */
async function downloadAndCut(name: string, env: Record<string, string>): Promise<'whole' | 'absent' | 'corrupt'> {
  const image = join(work, `${name}.img`)
  const copy = join(work, `${name}.cut.img`)
  const live = join(work, `${name}.live`)
  const after = join(work, `${name}.after`)
  await mkdir(live)
  await mkdir(after)
  execFileSync('truncate', ['-s', '64M', image])
  execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' })
  mount(image, live, 'commit=600')
  try {
    const child = spawnNode(bin, scenario.argv(join(live, 'out.bin')), { cwd: live, env })
    await child.waitForEvent('done')
    execFileSync('cp', ['--sparse=always', image, copy])
    await child.waitForExit()
  } finally {
    unmount(live)
  }
  mount(copy, after, 'rw') // rw: the journal replays, as after a crash
  try {
    const path = join(after, 'out.bin')
    if (!existsSync(path)) return 'absent'
    return (await readFile(path)).equals(scenario.content) ? 'whole' : 'corrupt'
  } finally {
    unmount(after)
  }
}

describe.skipIf(cannot !== undefined)('a power cut right after done (ext4 image copied at done)', () => {
  it('finds the committed file there, whole', async () => {
    expect(await downloadAndCut('synced', {})).toBe('whole')
  }, 60_000)

  it('loses the file when the fsyncs are skipped — the check can fail', async () => {
    expect(await downloadAndCut('unsynced', { HAUL_FSYNC: '0' })).not.toBe('whole')
  }, 60_000)
})
