/**
 * Crash safety of the self-uplift, the target side (issue 7; docs/uplift.md "Crash safety"): the target SIGKILLs
 * itself at each of its journal points, for both key options, and the uplift must still finish with one canonical
 * instance, the same root, every acknowledged write and the treasury intact. The scenario is in uplift-crash.ts.
 */
import { describe, test } from 'vitest'
import { crashCases, scenario, targetPoints, useCrashDevnet } from './uplift-crash.js'

useCrashDevnet('target')

describe('uplift: the target is SIGKILLed at every journal point (REGENT_TEST_PROFILE=full: for both key options)', () => {
  for (const { mode, point } of crashCases(targetPoints))
    test(`target killed at ${point} (${mode}) reboots and the uplift finishes`, () => scenario('target', mode, point))
})
