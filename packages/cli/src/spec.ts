/**
 * Every `regent` command, flag and example, declared once. `main.ts` builds the parser and help from
 * this list; each command's code lives in `commands/<name>.ts` and is loaded only when it runs, so
 * `regent --help` stays fast.
 */
import type { Command } from './command.js'

/** A flag of a command. `value` names the placeholder of a flag that takes a value. */
export type FlagSpec = {
  name: string
  description: string
  value?: string
  default?: string
  choices?: readonly string[]
}

/** A positional argument. */
export type ArgSpec = { name: string; description: string; required: boolean }

/** One command: its words, help text, inputs, examples, and the module that runs it. */
export type CommandSpec = {
  path: readonly string[]
  summary: string
  description?: string
  args: readonly ArgSpec[]
  flags: readonly FlagSpec[]
  examples: readonly { command: string; description: string }[]
  docs: string
  load: () => Promise<Command>
}

/** Flags every command accepts. */
export const globalFlags: readonly FlagSpec[] = [
  { name: 'json', description: 'print one JSON object on stdout (for machines)' },
  { name: 'no-color', description: 'no colour even on a terminal' },
]

export const commands: readonly CommandSpec[] = [
  {
    path: ['attest', 'verify'],
    summary: 'verify an Intel TDX/SGX DCAP quote offline against collateral and a time',
    description:
      'Runs the full DCAP verification (PCK chain and CRLs, TCB info and QE identity, QE report and its binding, quote signature, TCB level) and the default policy (no debug TD, SEPT_VE_DISABLE set, zero MRSERVICETD). Exit code 0 when the quote verifies, 1 when it does not, 2 for usage errors.',
    args: [{ name: 'quote-file', description: 'the quote: raw binary, hex text (with or without 0x) or base64 text', required: true }],
    flags: [
      {
        name: 'collateral',
        value: 'file',
        description: 'collateral JSON (dcap-qvl QuoteCollateralV3 shape); without it, collateral is fetched',
      },
      { name: 'now', value: 'unix-seconds', description: 'verification time (default: the current time)' },
      {
        name: 'trust',
        value: 'root',
        description: '"intel" (default, built in), "devnet" (the running devnet\'s root), or a PEM file of another root CA',
      },
      {
        name: 'pccs-url',
        value: 'url',
        description: 'PCCS or Intel PCS base URL used to fetch collateral',
        default: 'https://api.trustedservices.intel.com',
      },
      { name: 'event-log', value: 'file', description: "dstack event log (JSON) to replay against the quote's RTMRs" },
    ],
    examples: [
      {
        command: 'regent attest verify quote.hex --collateral collateral.json --now 1751624191 --json',
        description: 'verify a quote offline at a fixed time, machine-readable',
      },
      { command: 'regent attest verify quote.bin', description: 'fetch collateral from Intel PCS and verify now' },
    ],
    docs: 'docs/cli/attest.md',
    load: () => import('./commands/attest-verify.js'),
  },
]
