/**
 * The `regent` entry point: builds the parser and help from `spec.ts`, runs one command, and is the
 * only place that prints results or decides exit codes (0 ok, 1 failed, 2 usage).
 */
import { CommanderError, Option, Command as Program } from 'commander'
import type { CommandResult } from './command.js'
import { toCliError, UsageError } from './errors.js'
import { handleInterrupts } from './interrupt.js'
import { resolveDevnetDir } from './project/DevnetDir.js'
import { type CommandSpec, commands, globalFlags } from './spec.js'

/** Where output goes; tests pass their own. */
export type Io = {
  stdout: (text: string) => void
  stderr: (text: string) => void
  isTty: boolean
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTty: Boolean(process.stdout.isTTY),
}

const version = '0.1.0'

/** One-line descriptions of command groups (`regent dev`, `regent dev cvm`, …). */
const groups: Record<string, string> = {
  dev: 'the embedded devnet: up, down, status, and its CVMs',
  cvm: 'devnet CVMs: launch, list, stop, restart, logs',
  attest: 'verify Intel TDX/SGX quotes (DCAP) offline',
  contracts: 'the Regent contracts on a real EVM chain: deploy once, record deployments/<chainId>.json',
  identity: 'show and verify agent identity bundles (identity function, security score)',
  keys: 'derive keys inside a CVM (address and provenance, never the key unless asked)',
  uplift: 'the self-uplift protocol: move a running agent into a TEE, resume it, follow it',
}

/** Runs `regent <argv…>` and resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const json = argv.includes('--json')
  const color = io.isTty && !argv.includes('--no-color') && !process.env.NO_COLOR
  let outcome: { spec: CommandSpec; args: string[]; flags: Record<string, string | boolean | string[] | undefined> } | undefined

  const program = new Program('regent')
    .description('Regent TEE: sovereign AI agents on Intel TDX + dstack (ERC-8004 identity, KMS keys, verified uplift)')
    .version(version, '-v, --version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: () => {}, outputError: () => {} })
    .showHelpAfterError(false)
    // A command's options belong to it: `regent uplift` and `regent uplift status` both take --agent.
    .enablePositionalOptions()

  for (const spec of commands) {
    let parent = program
    for (const word of spec.path.slice(0, -1)) {
      parent = parent.commands.find((c) => c.name() === word) ?? parent.command(word).description(groups[word] ?? `${word} commands`)
    }
    const leaf = parent
      .command(spec.path.at(-1) ?? '')
      .summary(spec.summary)
      .description(spec.description ?? spec.summary)
    for (const a of spec.args) leaf.argument(a.required ? `<${a.name}>` : `[${a.name}]`, a.description)
    for (const f of [...spec.flags, ...globalFlags]) {
      const option = new Option(f.value ? `--${f.name} <${f.value}>` : `--${f.name}`, f.description)
      if (f.default !== undefined) option.default(f.default)
      if (f.choices) option.choices(f.choices)
      if (f.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value])
      if (f.hidden) option.hideHelp()
      leaf.addOption(option)
    }
    const examples = spec.examples.map((e) => `  $ ${e.command}\n      ${e.description}`).join('\n')
    leaf.addHelpText('after', `\nExamples:\n${examples}\n\nDocs: ${spec.docs}\n`)
    leaf.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: () => {}, outputError: () => {} })
    leaf.action((...params: unknown[]) => {
      const command = params.at(-1) as Program
      outcome = { spec, args: command.args, flags: command.opts() }
    })
  }

  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0
      return fail(
        new UsageError('usage', error.message.replace(/^error: /, ''), { hint: 'run with --help for usage and examples' }),
        json,
        io,
      )
    }
    return fail(error, json, io)
  }
  if (!outcome) {
    io.stdout(program.helpInformation())
    return argv.length === 0 ? 0 : 2
  }

  const { spec, args } = outcome
  // Repeatable flags arrive as lists; commands see their last value in `flags` and all of them in `lists`.
  const flags: Record<string, string | boolean | undefined> = {}
  const lists: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(outcome.flags)) {
    if (Array.isArray(v)) {
      lists[k] = v
      flags[k] = v.at(-1)
    } else flags[k] = v
  }
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  if (spec.longRunning) for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal)
  // Any other command: Ctrl-C restores the terminal, says what still runs, exits 130 (143 on SIGTERM).
  const release = spec.longRunning
    ? () => {}
    : handleInterrupts({
        write: io.stderr,
        tty: Boolean(process.stderr.isTTY),
        devnetDir: () => resolveDevnetDir(flags.devnetDir ?? (spec.path[0] === 'dev' ? flags.dir : undefined)).dir,
      })
  try {
    const command = await spec.load()
    const result: CommandResult = await command.run({
      args,
      flags,
      lists,
      note: (line) => (json ? undefined : io.stderr(`${line}\n`)),
      emit: (data, text) =>
        io.stdout(`${json ? JSON.stringify(data, (_key, value: unknown) => (value === undefined ? null : value)) : text}\n`),
      signal: stop.signal,
    })
    io.stdout(
      json
        ? `${JSON.stringify(result.data, (_key, value: unknown) => (value === undefined ? null : value))}\n`
        : `${command.render(result, { color })}\n`,
    )
    return result.ok ? 0 : 1
  } catch (error) {
    return fail(error, json, io, spec.docs)
  } finally {
    if (spec.longRunning) for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, onSignal)
    release()
  }
}

function fail(error: unknown, json: boolean, io: Io, docs?: string): number {
  const e = toCliError(error)
  const docsPath = e.docsPath ?? docs
  if (json) {
    io.stdout(`${JSON.stringify({ ok: false, error: { code: e.code, message: e.shortMessage, ...(e.hint ? { hint: e.hint } : {}) } })}\n`)
  } else {
    io.stderr(`error: ${e.shortMessage}\n${e.hint ? `hint: ${e.hint}\n` : ''}${docsPath ? `docs: ${docsPath}\n` : ''}`)
  }
  return e.exitCode
}
