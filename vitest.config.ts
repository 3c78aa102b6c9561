import { defineConfig } from 'vitest/config'

// Two projects, both run by `npm test`: hermetic unit tests, and integration tests against real
// CNCF distribution processes started on loopback ports by the tests themselves.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
    ],
  },
})
