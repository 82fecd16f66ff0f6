import { execFileSync } from 'node:child_process'
import { describe, expect, test } from 'vitest'
import { script, shells } from './Completion.js'
import { commands } from './spec.js'

/** What bash completes after `regent <typed…>` (the last word is the one being completed). */
function complete(typed: string[]): string[] {
  const words = ['regent', ...typed].map((w) => `'${w}'`).join(' ')
  const program = `${script('bash')}\nCOMP_WORDS=(${words}); COMP_CWORD=${typed.length}; _regent; printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter(Boolean)
}

describe('shell completion', () => {
  test('default: each shell names every command path and every flag of each command', () => {
    for (const shell of shells) {
      const text = script(shell)
      for (const spec of commands) {
        expect(text, `${shell}: ${spec.path.join(' ')}`).toContain(spec.path.join(' '))
        for (const word of spec.path) expect(text).toContain(word)
        for (const flag of spec.flags)
          expect(text, `${shell}: ${spec.path.join(' ')} --${flag.name}`).toMatch(new RegExp(`(--|-l )${flag.name}\\b`))
      }
    }
  })

  test('behavior: the bash script completes commands, subcommands and the flags of the command typed', () => {
    expect(complete([''])).toEqual(
      expect.arrayContaining(['dev', 'deploy', 'ls', 'logs', 'stop', 'completion', 'uplift', 'monitor', 'failover', 'standby']),
    )
    expect(complete(['standby', ''])).toEqual(['add', 'ls', 'rm'])
    expect(complete(['failover', ''])).toEqual(['enable', 'disable', 'status'])
    expect(complete(['standby', 'add', '--'])).toEqual([
      '--agent',
      '--target',
      '--url',
      '--claim-delay-ms',
      '--devnet-dir',
      '--json',
      '--no-color',
    ])
    expect(complete(['dev', ''])).toEqual(['up', 'down', 'status', 'cvm'])
    expect(complete(['dev', 'cvm', 'l'])).toEqual(['launch', 'list', 'logs'])
    expect(complete(['deploy', '--t'])).toEqual(['--target', '--timelock'])
    // After a command's argument its flags are still offered.
    expect(complete(['logs', 'my-agent', '--'])).toEqual(['--tail', '--dir', '--devnet-dir', '--json', '--no-color'])
    // `uplift` runs and is a group: its subcommands and its flags.
    expect(complete(['uplift', ''])).toEqual(expect.arrayContaining(['resume', 'status', '--agent', '--target']))
  })
})
