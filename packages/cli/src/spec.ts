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

const dirFlag: FlagSpec = { name: 'dir', value: 'dir', description: 'devnet state directory', default: '.regent' }

export const commands: readonly CommandSpec[] = [
  {
    path: ['dev', 'up'],
    summary: 'start the embedded devnet (anvil + contracts, key provider, simulated TDX host), detached',
    description:
      'Starts everything in a detached supervisor and returns when all parts are ready; writes <dir>/devnet.json (RPC URL, chain id, contract addresses, KMS URLs, host URL, devnet root CA). A second `up` reuses a running devnet. State (chain, CVM logs) persists in <dir> unless --fresh.',
    args: [],
    flags: [
      dirFlag,
      { name: 'fresh', description: 'stop a running devnet and wipe its state first' },
      { name: 'kms-nodes', value: 'n', description: 'KMS nodes to run (0 = no KMS: the local-devnet key provider)', default: '1' },
    ],
    examples: [
      { command: 'regent dev up', description: 'start (or reuse) the devnet in .regent/' },
      { command: 'regent dev up --fresh --json', description: 'start from a clean state, print devnet.json' },
    ],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.up),
  },
  {
    path: ['dev', 'down'],
    summary: 'stop the devnet and everything it started (chain state is kept)',
    args: [],
    flags: [dirFlag],
    examples: [{ command: 'regent dev down', description: 'stop CVMs, the host, the KMS and anvil' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.down),
  },
  {
    path: ['dev', 'status'],
    summary: 'is the devnet running? its endpoints, contracts and CVMs',
    args: [],
    flags: [dirFlag],
    examples: [{ command: 'regent dev status --json', description: 'machine-readable status' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.status),
  },
  {
    path: ['dev', 'cvm', 'launch'],
    summary: 'launch an agent bundle in a new devnet CVM',
    description:
      'Boots a CVM measured like dstack OS (compose hash = SHA-256 of the exact app-compose.json bytes), starts the agent with its own guest agent, and prints { cvmId, endpoint, appId, instanceId, composeHash }: endpoint is the value for DSTACK_SIMULATOR_ENDPOINT.',
    args: [],
    flags: [
      dirFlag,
      { name: 'compose', value: 'file', description: 'app-compose.json (its exact bytes are measured)' },
      { name: 'bundle', value: 'dir', description: 'the agent bundle directory (package.json main, or index.mjs)' },
      { name: 'app-id', value: 'hex', description: 'app id (20 bytes hex) registered in RegentAppAuth' },
      {
        name: 'approve',
        description: 'devnet convenience: register the app in RegentAppAuth and approve its compose hash, OS image and KMS root first',
      },
    ],
    examples: [
      {
        command: 'regent dev cvm launch --compose app-compose.json --bundle ./dist --json',
        description: 'launch and print the CVM as JSON',
      },
    ],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmLaunch),
  },
  {
    path: ['dev', 'cvm', 'list'],
    summary: 'list the devnet CVMs',
    args: [],
    flags: [dirFlag],
    examples: [{ command: 'regent dev cvm list', description: 'a table of CVMs' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmList),
  },
  {
    path: ['dev', 'cvm', 'stop'],
    summary: 'stop a devnet CVM',
    args: [{ name: 'cvm-id', description: 'the CVM to stop', required: true }],
    flags: [dirFlag],
    examples: [{ command: 'regent dev cvm stop cvm-1a2b3c4d5e6f', description: 'stop one CVM' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmStop),
  },
  {
    path: ['dev', 'cvm', 'logs'],
    summary: "print a devnet CVM's output",
    args: [{ name: 'cvm-id', description: 'the CVM', required: true }],
    flags: [dirFlag, { name: 'tail', value: 'n', description: 'only the last n lines' }],
    examples: [{ command: 'regent dev cvm logs cvm-1a2b3c4d5e6f --tail 50', description: 'the last 50 lines' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmLogs),
  },
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
