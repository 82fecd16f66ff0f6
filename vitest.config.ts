import { defineConfig } from 'vitest/config'
import { budget } from './packages/testing/src/profile.js'

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the `source` export condition), not to dist/;
  // the rest are Vite's default server conditions.
  resolve: { conditions: ['source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    // dstack's own SDK suite runs against a devnet CVM through `npm run conformance:dstack` (its own config).
    exclude: ['**/node_modules/**', 'test/conformance/**'],
    pool: 'forks',
    // 2-core machines: two workers, each with its own anvil (see packages/contracts/test/chain.ts).
    maxWorkers: 2,
    // REGENT_TEST_TIME_SCALE scales every budget (packages/testing/src/profile.ts); waits are for readiness.
    testTimeout: budget(60_000),
    hookTimeout: budget(60_000),
    reporters: ['default'],
  },
})
