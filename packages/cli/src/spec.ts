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
      'Boots a CVM measured like dstack OS (compose hash = SHA-256 of the exact app-compose.json bytes), starts the agent with its own guest agent (reachable by that CVM only, as in a real TEE), and prints { cvmId, appId, instanceId, composeHash, appUrl, … }. --debug-guest-agent also exposes the guest agent to the host (endpoint: a value for DSTACK_SIMULATOR_ENDPOINT, and guestAgentUrl), for debugging only.',
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
      {
        name: 'debug-guest-agent',
        description:
          'devnet debugging only: let processes outside the CVM call its guest agent (prints its endpoint); a real TEE never allows it',
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
    path: ['dev', 'cvm', 'restart'],
    summary: 'restart a stopped or killed devnet CVM (same identity, disk and port; a fresh measured boot)',
    args: [{ name: 'cvm-id', description: 'the CVM to restart', required: true }],
    flags: [dirFlag],
    examples: [{ command: 'regent dev cvm restart cvm-1a2b3c4d5e6f', description: 'boot one CVM again' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmRestart),
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
    path: ['init'],
    summary: 'scaffold an agent project (agent code on @regent-tee/sdk, app-compose template, regent.json, README)',
    description:
      'Writes a project that `regent deploy` accepts unchanged: regent.json, app-compose.json (dstack format, with the bundle digest placeholder deploy pins), package.json, index.mjs + src/main.ts (an agent that derives its wallet from the KMS, registers in ERC-8004, becomes canonical and serves /health and /identity), README.md, .gitignore. Refuses a non-empty directory unless --force.',
    args: [{ name: 'dir', description: 'where to create the project (default: the current directory)', required: false }],
    flags: [
      { name: 'name', value: 'name', description: 'project name (default: the directory name): lowercase letters, digits, dashes' },
      { name: 'force', description: 'write into a non-empty directory (template files are overwritten, others kept)' },
    ],
    examples: [
      { command: 'regent init my-agent', description: 'create ./my-agent' },
      { command: 'regent init . --force --json', description: 'scaffold here even if not empty; print the created files' },
    ],
    docs: 'docs/cli/init.md',
    load: () => import('./commands/init.js'),
  },
  {
    path: ['deploy'],
    summary: 'build, approve on-chain, launch in a TEE, provision the wallet and register the agent in ERC-8004',
    description:
      'Five steps, each a progress item: build (a deterministic bundle and its digest, pinned into app-compose.json), contracts (register the app and approve its compose hash in RegentAppAuth, respecting the timelock; before the CVM boots because the KMS refuses unapproved apps), tee (a CVM from the generated compose), wallet (address and KMS key provenance), erc-8004 (the agent registers itself and becomes canonical in RegentSuccession). Re-running upgrades in place: same app id and wallet; the previous CVM is stopped; the output lists what changed. Records <project>/.regent/deploy.json. On a real chain the app owner key comes from REGENT_DEPLOYER_KEY (never a flag).',
    args: [],
    flags: [
      {
        name: 'target',
        value: 'target',
        description: 'where to deploy (default: regent.json "target")',
        choices: ['local', 'phala', 'dstack', 'eigenx'],
      },
      { name: 'dir', value: 'project', description: 'the project directory (with regent.json)', default: '.' },
      { name: 'devnet-dir', value: 'dir', description: 'devnet state directory (`regent dev up --dir`)', default: '.regent' },
      {
        name: 'timelock',
        value: 'seconds',
        description: 'devnet: RegentAppAuth timelock of the app (default: regent.json "local.timelock", 0)',
      },
      { name: 'wait-timelock', description: 'devnet: when the approval is pending, advance the chain clock (evm_increaseTime + evm_mine)' },
    ],
    examples: [
      { command: 'regent deploy --target local', description: 'deploy (or upgrade) the project here to the running devnet' },
      {
        command: 'regent deploy --dir my-agent --json',
        description: 'machine-readable: agentId, wallet, appId, composeHash, cvmId, url, changed',
      },
      { command: 'regent deploy --timelock 3600 --wait-timelock', description: 'a one-hour timelock, and skip the wait on the devnet' },
    ],
    docs: 'docs/cli/deploy.md',
    load: () => import('./commands/deploy.js'),
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
  {
    path: ['identity', 'show'],
    summary: "print an agent's identity bundle (from its URL with a fresh nonce, or a saved file)",
    description:
      'Fetches <url>/identity?nonce=<fresh 32 bytes> (docs/protocol.md "Identity endpoint") or reads a saved bundle, and prints its fields, a key provenance summary and an attestation summary. It does not verify anything: use `regent identity verify`.',
    args: [{ name: 'agent-url|bundle-file', description: "the agent's base URL (http/https) or a bundle JSON file", required: true }],
    flags: [],
    examples: [
      { command: 'regent identity show http://127.0.0.1:8080', description: "the agent's bundle as a table" },
      { command: 'regent identity show http://127.0.0.1:8080 --json > bundle.json', description: 'save it (verify it later, offline)' },
    ],
    docs: 'docs/cli/identity.md',
    load: () => import('./commands/identity.js').then((m) => m.show),
  },
  {
    path: ['identity', 'verify'],
    summary: 'run the identity function on an agent as an outside verifier: (a)–(d) and the security score',
    description:
      'For a URL: verifyInstance with a fresh nonce, on-chain reads (compose-hash approval, KMS root, RegentSuccession) on the devnet chain or --rpc-url. For a saved bundle: the same checks with the nonce inside it (proves nothing about freshness). Exit code 0 when the instance is the agent, 1 when it is not, 2 for usage errors.',
    args: [{ name: 'agent-url|bundle-file', description: "the agent's base URL (http/https) or a bundle JSON file", required: true }],
    flags: [
      {
        name: 'devnet-dir',
        value: 'dir',
        description: 'devnet state directory (chain, contracts, root CA, collateral)',
        default: '.regent',
      },
      { name: 'rpc-url', value: 'url', description: 'another chain instead of the devnet (needs --contracts)' },
      { name: 'contracts', value: 'file', description: 'JSON with identityRegistry, appAuth, succession addresses (for --rpc-url)' },
      {
        name: 'trust',
        value: 'root',
        description: '"devnet" (default with a devnet), "intel" (default with --rpc-url) or a PEM file of a root CA',
      },
      {
        name: 'collateral',
        value: 'file',
        description: "collateral JSON; default: the devnet's under --trust devnet, else fetched from Intel PCS",
      },
      { name: 'agent-id', value: 'id', description: 'the agent you expect (default: the one the bundle names)' },
    ],
    examples: [
      { command: 'regent identity verify http://127.0.0.1:8080', description: 'is the agent at this URL the agent? (devnet in .regent)' },
      { command: 'regent identity verify bundle.json --json', description: 'check a saved bundle, machine-readable' },
    ],
    docs: 'docs/cli/identity.md',
    load: () => import('./commands/identity.js').then((m) => m.verify),
  },
  {
    path: ['keys', 'derive'],
    summary: 'derive a key through the guest agent: address, public key, signature chain and provenance',
    description:
      "Inside a CVM (DSTACK_SIMULATOR_ENDPOINT or the dstack socket) or against a devnet CVM (--endpoint), derives the key with @regent-tee/sdk deriveKey and verifies its signature chain to the KMS root (and, with a devnet running a KMS, that the root is the devnet's). Never prints the private key unless --reveal is given and stdout is a terminal; --reveal with --json or off a terminal exits 2.",
    args: [],
    flags: [
      { name: 'path', value: 'path', description: 'GetKey path, e.g. regent/v1/wallet' },
      {
        name: 'name',
        value: 'name',
        description: "the key's name: dstack's GetKey purpose (enters only the first signature of the chain)",
      },
      { name: 'purpose', value: 'purpose', description: 'same as --name (dstack spelling)' },
      {
        name: 'endpoint',
        value: 'socket|url',
        description: 'guest agent socket path or http(s) URL (default: DSTACK_SIMULATOR_ENDPOINT, then the dstack socket)',
      },
      {
        name: 'devnet-dir',
        value: 'dir',
        description: 'devnet whose KMS root the chain should end at, when there is one',
        default: '.regent',
      },
      { name: 'reveal', description: 'also print the private key (only on a terminal, never with --json)' },
    ],
    examples: [
      {
        command: 'regent keys derive --path regent/v1/wallet --name regent-wallet',
        description: "the agent wallet's address and provenance, inside its CVM",
      },
      {
        command: 'regent keys derive --path my/key --endpoint .regent/cvms/cvm-1a2b3c4d5e6f/dstack.sock --json',
        description: 'against a devnet CVM (endpoint from `regent dev cvm list --json`)',
      },
    ],
    docs: 'docs/cli/keys.md',
    load: () => import('./commands/keys.js').then((m) => m.derive),
  },
  {
    path: ['doctor'],
    summary: 'check the environment: Node, devnet, contracts, KMS, clock skew, collateral freshness',
    description: 'Prints each check with ✓ or ✗ and what to fix. Exit code 0 when every check passes, 1 otherwise.',
    args: [],
    flags: [{ name: 'devnet-dir', value: 'dir', description: 'devnet state directory', default: '.regent' }],
    examples: [
      { command: 'regent doctor', description: 'what is wrong, and how to fix it' },
      { command: 'regent doctor --json', description: 'a list of { check, ok, detail, fix? }' },
    ],
    docs: 'docs/cli/doctor.md',
    load: () => import('./commands/doctor.js').then((m) => m.doctor),
  },
  {
    path: ['demo'],
    summary: 'the self-uplift story on the devnet: the example agent moves from the wild into a TEE, verified end to end',
    description:
      "On the running devnet: starts the example agent as a plain process in the wild (REGENT_RUNTIME=wild: its own key in an encrypted keystore; ERC-8004 identity, memory DB, a funded treasury), moves it into a devnet CVM through the same code as `regent uplift --agent <url> --target local`, and prints the agent's decision table, the handshake checks, the on-chain Uplift (or succession) event, the demoted source, the treasury and the new canonical instance as an outside verifier sees it (identity function, security score). The wild process is stopped at the end unless --keep. Its admin token and keystore password are generated and never printed.",
    args: [],
    flags: [
      { name: 'key', value: 'option', description: 'key continuity: import (same address) or rotate (a new key)', default: 'import' },
      { name: 'keep', description: 'leave the demoted wild agent running (prints its URL and pid)' },
      { name: 'devnet-dir', value: 'dir', description: 'devnet state directory (`regent dev up --dir`)', default: '.regent' },
    ],
    examples: [
      { command: 'regent dev up && regent demo', description: 'option A on the devnet in .regent' },
      { command: 'regent demo --key rotate --json', description: 'option B, every fact as one JSON object' },
    ],
    docs: 'docs/cli/demo.md',
    load: () => import('./commands/demo.js'),
  },
  // `uplift` comes before its subcommands: it is a command of its own and the group of `status` and `resume`.
  {
    path: ['uplift'],
    summary: 'move a running agent into a new TEE: launch the target, tell the agent to uplift, follow it to the end',
    description:
      "Reads the agent's /health (it must be an agent that holds its epoch) and its admin API (no uplift in progress), reads its app id in RegentSuccession, checks that the app approves the target's compose hash, OS image and KMS root (--approve approves them on the devnet), launches the target bundle with REGENT_UPLIFT_ROLE=target through the --target provider, waits for it, posts /admin/uplift to the agent and shows each source step as the agent completes it, then the new signer, epoch, state and handover transaction, and checks the new canonical instance from the outside. The admin token comes from REGENT_ADMIN_TOKEN (or --token) and is never printed. Exit 0 when the uplift is done and verified, 1 when it failed or the agent refused (resume with `regent uplift resume`), 2 for usage errors.",
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the running agent's base URL (its /health and admin API)" },
      {
        name: 'target',
        value: 'target',
        description: 'where to launch the target CVM (default local: the devnet)',
        choices: ['local', 'phala', 'dstack', 'eigenx'],
      },
      {
        name: 'target-url',
        value: 'url',
        description: 'a target you launched yourself (answering /health as an uplift target): no launch, no approval step',
      },
      { name: 'key', value: 'option', description: 'key continuity: import (same address) or rotate (a new key)', default: 'import' },
      { name: 'force', description: "move even when the agent's decision table says no (EV ≤ 0)" },
      {
        name: 'token',
        value: 'token',
        description: "the agent's admin token (default: env REGENT_ADMIN_TOKEN; prefer the env: argv is visible to other users)",
      },
      { name: 'bundle', value: 'dir', description: 'the target bundle, with its app-compose.json (default: examples/agent)' },
      {
        name: 'approve',
        description: "devnet: approve the target's compose hash, OS image and KMS root for the agent's app (as its owner) first",
      },
      { name: 'devnet-dir', value: 'dir', description: 'devnet state directory (`regent dev up --dir`)', default: '.regent' },
    ],
    examples: [
      {
        command: 'REGENT_ADMIN_TOKEN=… regent uplift --agent http://127.0.0.1:8080 --target local --approve',
        description: 'move the agent into a devnet CVM running the example agent (option A: same address)',
      },
      {
        command: 'regent uplift --agent http://127.0.0.1:8080 --key rotate --json',
        description: 'option B (the target key becomes canonical), every fact as one JSON object',
      },
    ],
    docs: 'docs/cli/uplift.md',
    load: () => import('./commands/uplift.js').then((m) => m.start),
  },
  {
    path: ['uplift', 'resume'],
    summary: 'tell the agent to resume its unfinished uplift, and follow it to the end',
    description:
      'Posts /admin/uplift/resume to the agent (when its session is already running, follows it instead) and shows the remaining source steps and the summary, as `regent uplift` does. Exit 0 when done, 1 when it failed again or there is nothing to resume, 2 for usage errors.',
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the running agent's base URL" },
      { name: 'token', value: 'token', description: "the agent's admin token (default: env REGENT_ADMIN_TOKEN)" },
      {
        name: 'devnet-dir',
        value: 'dir',
        description: 'devnet to read the chain from for the outside check (skipped without one)',
        default: '.regent',
      },
    ],
    examples: [{ command: 'regent uplift resume --agent http://127.0.0.1:8080', description: 'resume after a failure' }],
    docs: 'docs/cli/uplift.md',
    load: () => import('./commands/uplift.js').then((m) => m.resume),
  },
  {
    path: ['uplift', 'status'],
    summary: "an agent's uplift session (--agent), or the steps a source journal records (--journal)",
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the running agent's base URL (reads GET /admin/uplift)" },
      { name: 'token', value: 'token', description: "the agent's admin token (default: env REGENT_ADMIN_TOKEN)" },
      { name: 'journal', value: 'file', description: "a source's uplift journal (SQLite), read offline" },
    ],
    examples: [
      { command: 'regent uplift status --agent http://127.0.0.1:8080', description: "the agent's session: state, steps, next, result" },
      { command: 'regent uplift status --journal uplift-source.db', description: 'steps done, next step' },
    ],
    docs: 'docs/cli/uplift.md',
    load: () => import('./commands/uplift.js').then((m) => m.status),
  },
]
