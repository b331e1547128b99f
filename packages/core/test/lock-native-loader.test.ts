import { open, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadNativeLock, loadPackage, loadPrebuilt, type NativeLockAddon } from '../src/lock/lock-native.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-addon-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('the OFD lock addon, opened directly or through its package', () => {
  it('loads, by the direct path where the prebuilt is', () => {
    expect(loadNativeLock()).toHaveProperty('addon')
    expect(loadPrebuilt()).toBeDefined()
  })

  it.each([
    ['prebuilt opened directly', () => loadPrebuilt()!],
    ['the package', () => loadPackage()],
  ])('%s: excludes a second open file description, and a waiter gets the lock when it is let go', async (_, load: () => NativeLockAddon) => {
    const addon = load()
    const path = join(dir, 'lock')
    const first = await open(path, 'w+')
    const second = await open(path, 'r+')
    try {
      expect(addon.tryLock(first.fd)).toBe(true)
      expect(addon.tryLock(second.fd)).toBe(false)
      let got = false
      const waiting = addon.waitForLock(second.fd).then(() => (got = true))
      // The waiter blocks on the addon's thread; it can't have the lock while the first holds it.
      await new Promise((resolve) => setImmediate(resolve))
      expect(got).toBe(false)
      addon.unlock(first.fd)
      await waiting
      expect(got).toBe(true)
      expect(addon.tryLock(first.fd)).toBe(false)
      addon.unlock(second.fd)
      expect(addon.tryLock(first.fd)).toBe(true)
      addon.unlock(first.fd)
    } finally {
      await first.close()
      await second.close()
    }
  })
})
