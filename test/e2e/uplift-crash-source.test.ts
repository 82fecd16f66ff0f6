/**
 * Crash safety of the self-uplift, the source side (issue 7; docs/uplift.md "Crash safety"): the source SIGKILLs
 * itself at each of its journal points, for both key options, and the uplift must still finish with one canonical
 * instance, the same root, every acknowledged write and the treasury intact. The scenario is in uplift-crash.ts.
 */
import { describe, test } from 'vitest'
import { crashCases, scenario, sourcePoints, useCrashDevnet } from './uplift-crash.js'

useCrashDevnet('source')

describe('uplift: the source is SIGKILLed at every journal point (REGENT_TEST_PROFILE=full: for both key options)', () => {
  for (const { mode, point } of crashCases(sourcePoints))
    test(`source killed at ${point} (${mode}) resumes and finishes`, () => scenario('source', mode, point))
})
