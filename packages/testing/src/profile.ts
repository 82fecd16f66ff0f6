/**
 * How much the test suite does and how long it may wait (docs/development.md "Test profiles"):
 *
 * - `REGENT_TEST_PROFILE`: `ci` (default) runs each heavy scenario's representative cases — every crash point once,
 *   key options alternating, mode-specific points for both — so that CI on a 2-core machine stays well under its
 *   limit; `full` runs every case (before a release, and what the benchmarks' figures come from).
 * - `REGENT_TEST_TIME_SCALE`: a positive number every time budget of the tests is multiplied by (default 1). A loaded
 *   machine sets 2 or 3; nothing waits longer when things are fast, since every wait is for readiness.
 *
 * Used by vitest.config.ts (test and hook timeouts) and by the tests that start processes.
 */

/** The profile: `full` or `ci`. */
export const testProfile: 'ci' | 'full' = process.env.REGENT_TEST_PROFILE === 'full' ? 'full' : 'ci'

/** The time scale (≥ 0.1; a malformed value is an error, never silently 1). */
export const timeScale: number = (() => {
  const raw = process.env.REGENT_TEST_TIME_SCALE
  if (raw === undefined || raw === '') return 1
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0.1) throw new Error(`REGENT_TEST_TIME_SCALE must be a number ≥ 0.1, got ${JSON.stringify(raw)}`)
  return n
})()

/** A time budget in milliseconds, scaled. */
export const budget = (ms: number): number => Math.round(ms * timeScale)
