import { defineConfig } from 'vitest/config'

/**
 * Tests whose bound is a rate of the machine itself (the kill storm: how soon a fresh process
 * sends its first request, 60 times over) run after every other file has finished, alone, so
 * that a parallel file's load does not decide them.
 */
const ALONE = ['apps/cli/test/real-servers.test.ts']

// One run over every package so CI prints a single summary line.
export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', '**/dist/**', '**/*.faults.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'haul',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', '**/*.faults.test.ts', ...ALONE],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
})
