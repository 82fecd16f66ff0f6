import { describe, expect, test } from 'vitest'
import { agentError } from './CrashOutput.js'

describe('agentError', () => {
  test("default: an uncaught exception gives its message and first frame, not Node's version line", () => {
    const output = [
      'wallet 0xabc (app 0x123)',
      'file:///app/dist/main.js:42',
      '    throw new TypeError("boom")',
      '    ^',
      '',
      'TypeError: boom',
      '    at main (file:///app/dist/main.js:42:11)',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '',
      'Node.js v20.20.2',
    ].join('\n')
    expect(agentError(output)).toBe('TypeError: boom (at main (file:///app/dist/main.js:42:11))')
  })

  test("behavior: the agent's own one-line refusal is kept whole; plain output gives its last line; nothing gives undefined", () => {
    expect(agentError('ready\nagent failed to boot: Invalid measured settings: REGENT_OPERATOR …\n')).toBe(
      'agent failed to boot: Invalid measured settings: REGENT_OPERATOR …',
    )
    expect(agentError('booting\nstill booting\n')).toBe('still booting')
    expect(agentError('\n\nNode.js v20.20.2\n')).toBeUndefined()
    expect(
      agentError("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'tsx'\n    at packageResolve (node:internal)\nNode.js v20.20.2"),
    ).toBe("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'tsx' (at packageResolve (node:internal))")
  })
})
