/** `regent init [dir]`: scaffolds an agent project that `regent deploy` accepts unchanged (docs/cli/init.md). */
import { basename, resolve } from 'node:path'
import type { CommandInput, CommandResult } from '../command.js'
import { UsageError } from '../errors.js'
import { namePattern } from '../project/Config.js'
import * as Template from '../project/Template.js'

const docs = 'docs/cli/init.md'

export type InitOutput = { dir: string; name: string; files: string[] }

/** Writes the template into the directory (refuses a non-empty one unless --force); returns what it created. */
export async function run(input: CommandInput): Promise<CommandResult<InitOutput>> {
  const dir = resolve(input.args[0] ?? '.')
  const name =
    typeof input.flags.name === 'string'
      ? input.flags.name
      : basename(dir)
          .toLowerCase()
          .replace(/[^a-z0-9-]+/g, '-')
          .replace(/^-+|-+$/g, '')
          .slice(0, 63) || 'regent-agent'
  if (!namePattern.test(name))
    throw new UsageError('usage', `--name "${name}" must be 1–63 lowercase letters, digits and dashes, starting with a letter or digit`, {
      docs,
    })
  if (input.flags.force !== true && !(await Template.isEmpty(dir)))
    throw new UsageError('init.not_empty', `${dir} is not empty`, {
      hint: 'choose a new directory, or pass --force to write the template files over it (other files are kept)',
      docs,
    })
  const files = await Template.write(dir, { name })
  return { ok: true, data: { dir, name, files } }
}

export function render(result: CommandResult): string {
  const d = result.data as InitOutput
  return [
    `✓ created ${d.name} in ${d.dir}`,
    ...d.files.map((f) => `  ${f}`),
    '',
    'next:',
    ...(d.dir === process.cwd() ? [] : [`  cd ${d.dir}`]),
    '  npm install',
    '  regent dev up',
    '  regent deploy --target local',
  ].join('\n')
}
