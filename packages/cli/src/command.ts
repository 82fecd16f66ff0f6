/** What a command module exports: a plain async function from options to data, and its human rendering. */
export type CommandInput = {
  /** Positional arguments, in declaration order. */
  args: readonly string[]
  /** Flags by camel-cased name (`--pccs-url` → `pccsUrl`); booleans for flags without a value (a repeatable flag: its last value). */
  flags: Readonly<Record<string, string | boolean | undefined>>
  /** Every value of each repeatable flag given, in order (`--agent a --agent b` → `{ agent: ['a', 'b'] }`). */
  lists?: Readonly<Record<string, readonly string[]>>
  /** Where notes for a human go (stderr); silent under `--json`. */
  note: (line: string) => void
  /** One line on stdout now, for commands that report as they go: JSON of `data` under `--json`, else `text`. */
  emit?: (data: unknown, text: string) => void
  /** Aborted on SIGINT / SIGTERM for long-running commands (never for the others). */
  signal?: AbortSignal
}

/** A command's outcome: `ok` decides the exit code (0 or 1); `data` is what `--json` prints. */
export type CommandResult<data = unknown> = { ok: boolean; data: data }

export type Command = {
  run(input: CommandInput): Promise<CommandResult>
  /** Lines for a human; `color` is false off a terminal or with --no-color. */
  render(result: CommandResult, options: { color: boolean }): string
}
