import { defineConfig } from 'vitest/config'

// `pnpm test:faults`: the exhaustive crash and fault sweeps (minutes, root, strace, mounts).
// The bounded samples of the same harness run in the normal `pnpm test`.
export default defineConfig({
  test: {
    include: ['**/*.faults.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
})
