/** `regent completion bash|zsh|fish`: the shell's completion script, generated from the command spec. */

import { type Shell, script, shells } from '../Completion.js'
import type { CommandInput, CommandResult } from '../command.js'
import { UsageError } from '../errors.js'

export async function run(input: CommandInput): Promise<CommandResult<{ shell: Shell; script: string }>> {
  const shell = input.args[0]
  if (!(shells as readonly string[]).includes(shell ?? ''))
    throw new UsageError('usage', `completion takes one of ${shells.join(', ')}${shell ? `, not "${shell}"` : ''}`, {
      docs: 'docs/cli/completion.md',
    })
  return { ok: true, data: { shell: shell as Shell, script: script(shell as Shell) } }
}

export function render(result: CommandResult): string {
  return (result.data as { script: string }).script.replace(/\n$/, '')
}
