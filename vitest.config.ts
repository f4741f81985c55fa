import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'control-api/**/*.test.ts', 'mesh/**/*.test.ts', 'edge-proxy/**/*.test.ts', 'sdk/**/*.test.ts', 'filters/**/*.test.ts'],
    // PGlite boots a WASM Postgres per suite and workerd tests build a bundle: generous, not tight.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
})
