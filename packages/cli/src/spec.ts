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
  /** May be given more than once: the command gets every value, in order. */
  repeatable?: boolean
  /** Accepted but not shown in help or completion (an old name kept working). */
  hidden?: boolean
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
  /** Runs until stopped: SIGINT / SIGTERM abort its `signal` instead of ending the process. */
  longRunning?: boolean
}

/** Flags every command accepts. */
export const globalFlags: readonly FlagSpec[] = [
  { name: 'json', description: 'print one JSON object on stdout (for machines)' },
  { name: 'no-color', description: 'no colour even on a terminal' },
]

/** Where the devnet lives: given, else $REGENT_DEVNET_DIR, else the nearest .regent/ with a devnet.json walking up, else ./.regent. */
const devnetDirHelp = 'devnet state directory (default: $REGENT_DEVNET_DIR, else the nearest .regent/ above, else ./.regent)'
const devnetDirFlag: FlagSpec = { name: 'devnet-dir', value: 'dir', description: devnetDirHelp }
/** `dev *` once took the devnet's directory as --dir: still accepted, no longer shown (one name in every command). */
const oldDirFlag: FlagSpec = { name: 'dir', value: 'dir', description: 'old name of --devnet-dir', hidden: true }

export const commands: readonly CommandSpec[] = [
  {
    path: ['dev', 'up'],
    summary: 'start the embedded devnet (anvil + contracts, key provider, simulated TDX host), detached',
    description:
      'Starts everything in a detached supervisor and returns when all parts are ready; writes <dir>/devnet.json (RPC URL, chain id, contract addresses, KMS URLs, host URL, devnet root CA). A second `up` reuses a running devnet. State (chain, CVM logs) persists in <dir> unless --fresh.',
    args: [],
    flags: [
      devnetDirFlag,
      oldDirFlag,
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
    flags: [devnetDirFlag, oldDirFlag],
    examples: [{ command: 'regent dev down', description: 'stop CVMs, the host, the KMS and anvil' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.down),
  },
  {
    path: ['dev', 'status'],
    summary: 'is the devnet running? its endpoints, contracts and CVMs',
    args: [],
    flags: [devnetDirFlag, oldDirFlag],
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
      devnetDirFlag,
      oldDirFlag,
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
    flags: [devnetDirFlag, oldDirFlag],
    examples: [{ command: 'regent dev cvm list', description: 'a table of CVMs' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmList),
  },
  {
    path: ['dev', 'cvm', 'stop'],
    summary: 'stop a devnet CVM',
    args: [{ name: 'cvm-id', description: 'the CVM to stop', required: true }],
    flags: [devnetDirFlag, oldDirFlag],
    examples: [{ command: 'regent dev cvm stop cvm-1a2b3c4d5e6f', description: 'stop one CVM' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmStop),
  },
  {
    path: ['dev', 'cvm', 'restart'],
    summary: 'restart a stopped or killed devnet CVM (same identity, disk and port; a fresh measured boot)',
    args: [{ name: 'cvm-id', description: 'the CVM to restart', required: true }],
    flags: [devnetDirFlag, oldDirFlag],
    examples: [{ command: 'regent dev cvm restart cvm-1a2b3c4d5e6f', description: 'boot one CVM again' }],
    docs: 'docs/devnet.md',
    load: () => import('./commands/dev.js').then((m) => m.cvmRestart),
  },
  {
    path: ['dev', 'cvm', 'logs'],
    summary: "print a devnet CVM's output",
    args: [{ name: 'cvm-id', description: 'the CVM', required: true }],
    flags: [devnetDirFlag, oldDirFlag, { name: 'tail', value: 'n', description: 'only the last n lines' }],
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
      'Five steps, each a progress item: build (a deterministic bundle and its digest, pinned into app-compose.json), contracts (register the app and approve its compose hash in RegentAppAuth, respecting the timelock; before the CVM boots because the KMS refuses unapproved apps), tee (a CVM from the generated compose), wallet (address and KMS key provenance), erc-8004 (the agent registers itself and becomes canonical in RegentSuccession). Re-running upgrades in place: same app id and wallet; the previous CVM is stopped; the output lists what changed. Records <project>/.regent/deploy.json. On a real chain the app owner key comes from REGENT_DEPLOYER_KEY (never a flag). With --standbys n (devnet): then the lease (--lease-period, default 10 s; --k, default 1) and n standby CVMs of the app, attested and attached, as `regent failover enable` and `regent standby add` do.',
    args: [],
    flags: [
      {
        name: 'target',
        value: 'target',
        description:
          'where to deploy (default: regent.json "target"): local (the devnet), dstack (a dstack-vmm), phala (Phala Cloud; in this version its devnet stand-in); eigenx is not available yet',
        choices: ['local', 'phala', 'dstack', 'eigenx'],
      },
      {
        name: 'dir',
        value: 'project',
        description: 'the project directory (default: the nearest regent.json from the current directory up)',
      },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
      {
        name: 'timelock',
        value: 'seconds',
        description: 'devnet: RegentAppAuth timelock of the app (default: regent.json "local.timelock", 0)',
      },
      { name: 'wait-timelock', description: 'devnet: when the approval is pending, advance the chain clock (evm_increaseTime + evm_mine)' },
      { name: 'network', value: 'name', description: 'a chain of regent.json "networks" (default: the devnet chain)' },
      {
        name: 'vmm-url',
        value: 'url',
        description: "--target dstack: the dstack-vmm URL (bearer token from REGENT_DSTACK_TOKEN; default: the devnet's vmmUrl)",
      },
      // --target phala (docs/targets/phala.md); auth from PHALA_CLOUD_API_KEY / PHALA_CLOUD_API_PREFIX only
      {
        name: 'kms',
        value: 'mode',
        description: "phala: the app's KMS, phala (Phala's central KMS) or onchain (dstack's DstackKms)",
        choices: ['phala', 'onchain'],
      },
      { name: 'node', value: 'id', description: 'phala: the node to deploy on (default: the listed node with the most room)' },
      { name: 'os-image', value: 'name', description: "phala: the node's OS image (default: its newest release image)" },
      {
        name: 'standbys',
        value: 'n',
        description:
          'local: after the deploy, set the lease and attach n standby CVMs of the app (operator-free failover; needs REGENT_OPERATOR_KEY)',
      },
      { name: 'lease-period', value: 'seconds', description: 'with --standbys: the lease period, 2–86400 s (default 10)' },
      { name: 'k', value: 'n', description: 'with --standbys: standbys that must hold a write before it is acknowledged (default 1)' },
    ],
    examples: [
      { command: 'regent deploy --target local', description: 'deploy (or upgrade) the project here to the running devnet' },
      {
        command:
          'REGENT_DEPLOYER_KEY=0x… REGENT_DSTACK_TOKEN=… regent deploy --target dstack --vmm-url https://vmm.example:9080 --network base-sepolia',
        description: 'deploy to your own dstack host, governed on Base Sepolia',
      },
      {
        command: 'PHALA_CLOUD_API_PREFIX=<phalaApiUrl> PHALA_CLOUD_API_KEY=<phalaApiKey> regent deploy --target phala --kms onchain',
        description: "deploy to Phala Cloud (here the devnet's stand-in), boots gated by RegentAppAuth through dstack's on-chain KMS",
      },
      {
        command: 'regent deploy --dir my-agent --json',
        description: 'machine-readable: agentId, wallet, appId, composeHash, cvmId, url, changed',
      },
      { command: 'regent deploy --timelock 3600 --wait-timelock', description: 'a one-hour timelock, and skip the wait on the devnet' },
      {
        command: 'REGENT_OPERATOR_KEY=0x… regent deploy --target local --standbys 2',
        description: 'deploy, then a 10 s lease and two attested standbys that take over if the agent dies',
      },
    ],
    docs: 'docs/cli/deploy.md',
    load: () => import('./commands/deploy.js'),
  },
  {
    path: ['ls'],
    summary: 'the agents this project and its devnet know: name, status, role, epoch, instance, URL',
    description:
      "Lists the devnet's agents by name (the project name deploy gives the compose; the devnet's own KMS CVMs are left out) and the project in the current directory or above (marked *), with what is cheaply known: the CVM status, the role from its /health, its epoch in RegentSuccession and whether the instance is canonical. Without a running devnet only the project's deploy record is listed.",
    args: [],
    flags: [
      { name: 'dir', value: 'project', description: 'the project (default: the nearest regent.json from the current directory up)' },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      { command: 'regent ls', description: 'a table of agents' },
      {
        command: 'regent ls --json',
        description: '{ devnet, agents: [{ name, status, url, cvmId, instanceId, agentId, role, epoch, canonical, … }] }',
      },
    ],
    docs: 'docs/cli/agents.md',
    load: () => import('./commands/agents.js').then((m) => m.ls),
  },
  {
    path: ['logs'],
    summary: "print an agent's output by name (default: the project here)",
    description:
      "The output of the agent's current CVM on the devnet: the one the project's last deploy launched when it runs, else its newest running CVM, else its newest. An unknown name is refused with the known names (exit 2).",
    args: [{ name: 'name', description: 'the agent (default: the project in the current directory or above)', required: false }],
    flags: [
      { name: 'tail', value: 'n', description: 'only the last n lines' },
      { name: 'dir', value: 'project', description: 'the project (default: the nearest regent.json from the current directory up)' },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      { command: 'regent logs', description: "this project's agent" },
      { command: 'regent logs my-agent --tail 50', description: 'the last 50 lines of my-agent' },
    ],
    docs: 'docs/cli/agents.md',
    load: () => import('./commands/agents.js').then((m) => m.logs),
  },
  {
    path: ['stop'],
    summary: 'stop an agent by name (default: the project here): every running CVM of its app on the devnet',
    args: [{ name: 'name', description: 'the agent (default: the project in the current directory or above)', required: false }],
    flags: [
      { name: 'dir', value: 'project', description: 'the project (default: the nearest regent.json from the current directory up)' },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      { command: 'regent stop', description: "stop this project's agent" },
      { command: 'regent stop my-agent --json', description: '{ name, stopped: [cvmId, …] }' },
    ],
    docs: 'docs/cli/agents.md',
    load: () => import('./commands/agents.js').then((m) => m.stop),
  },
  {
    path: ['completion'],
    summary: 'print a shell completion script (bash, zsh or fish) for every command and flag',
    args: [{ name: 'shell', description: 'bash, zsh or fish', required: true }],
    flags: [],
    examples: [
      { command: 'eval "$(regent completion bash)"', description: 'complete regent in this bash (add it to ~/.bashrc)' },
      { command: 'regent completion fish > ~/.config/fish/completions/regent.fish', description: 'install for fish' },
    ],
    docs: 'docs/cli/completion.md',
    load: () => import('./commands/completion.js'),
  },
  {
    path: ['contracts', 'deploy'],
    summary: 'deploy the Regent contracts to an EVM chain once and record them in deployments/<chainId>.json',
    description:
      'Deploys IdentityRegistry, ReputationRegistry, ValidationRegistry, RegentAppAuth, RegentSuccession and AgentTreasury with the key in REGENT_DEPLOYER_KEY (never a flag) and writes <project>/deployments/<chainId>.json: the addresses, the deployment block and its hash (with the chain id and the RegentAppAuth address, what identifies the chain). Nothing is sent when the file exists and the chain confirms it; a file for another chain with the same id is refused unless --replace. Name the chain in regent.json "networks" to deploy agents on it (`regent deploy --network <name>`).',
    args: [],
    flags: [
      { name: 'rpc-url', value: 'url', description: 'JSON-RPC URL of the chain (http or https)' },
      { name: 'dir', value: 'project', description: 'the project directory (deployments/ is written there)', default: '.' },
      { name: 'kms-timelock', value: 'seconds', description: "RegentAppAuth's governance timelock for KMS measurements", default: '86400' },
      { name: 'confirmations', value: 'n', description: 'blocks to wait on top of the deployment before recording it', default: '1' },
      { name: 'replace', description: 'deploy again when deployments/<chainId>.json names another chain with this id' },
    ],
    examples: [
      {
        command: 'REGENT_DEPLOYER_KEY=0x… regent contracts deploy --rpc-url https://sepolia.base.org',
        description: 'deploy to Base Sepolia and write deployments/84532.json',
      },
    ],
    docs: 'docs/targets/dstack.md',
    load: () => import('./commands/contracts.js'),
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
        description:
          'PCCS or Intel PCS base URL used to fetch collateral (default: the running devnet under --trust devnet, else https://api.trustedservices.intel.com)',
      },
      { name: 'event-log', value: 'file', description: "dstack event log (JSON) to replay against the quote's RTMRs" },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      {
        command: 'regent attest verify quote.hex --collateral collateral.json --now 1751624191 --json',
        description: 'verify a quote offline at a fixed time, machine-readable',
      },
      { command: 'regent attest verify quote.bin', description: 'fetch collateral from Intel PCS and verify now' },
      { command: 'regent attest verify q.hex --trust devnet', description: 'a devnet quote, collateral from the running devnet' },
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
    flags: [{ name: 'devnet-dir', value: 'dir', description: devnetDirHelp }],
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
      "On the running devnet: starts the example agent as a plain process in the wild (REGENT_RUNTIME=wild: its own key in an encrypted keystore; ERC-8004 identity, memory DB, a funded treasury), moves it into a devnet CVM through the same code as `regent uplift --agent <url> --target local`, and prints the agent's decision table, the handshake checks, the on-chain Uplift (or succession) event, the demoted source, the treasury and the new canonical instance as an outside verifier sees it (identity function, security score). The wild process is stopped at the end unless --keep. Its operator key and keystore password are generated and never printed.",
    args: [],
    flags: [
      { name: 'key', value: 'option', description: 'key continuity: import (same address) or rotate (a new key)', default: 'import' },
      { name: 'keep', description: 'leave the demoted wild agent running (prints its URL and pid); with --failover, the cluster' },
      {
        name: 'failover',
        description:
          'the failover story instead: a canonical CVM and two standbys under a 5 s lease, a client writing through createCanonicalClient, the canonical SIGKILLed, a standby claiming at the next epoch, no acknowledged write lost',
      },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      { command: 'regent dev up && regent demo', description: 'option A on the devnet in .regent' },
      { command: 'regent demo --key rotate --json', description: 'option B, every fact as one JSON object' },
      {
        command: 'regent demo --failover',
        description: 'SIGKILL the canonical instance: a standby takes over, the client follows, the failover time is printed',
      },
    ],
    docs: 'docs/cli/demo.md',
    load: () => import('./commands/demo.js'),
  },
  // `uplift` comes before its subcommands: it is a command of its own and the group of `status` and `resume`.
  {
    path: ['uplift'],
    summary: 'move a running agent into a new TEE: launch the target, tell the agent to uplift, follow it to the end',
    description:
      "Reads the agent's /health (it must be an agent that holds its epoch) and its admin API (no uplift in progress), reads its app id in RegentSuccession, checks that the app approves the target's compose hash, OS image and KMS root (--approve approves them on the devnet), launches the target bundle with REGENT_UPLIFT_ROLE=target through the --target provider, waits for it, posts /admin/uplift to the agent and shows each source step as the agent completes it, then the new signer, epoch, state and handover transaction, and checks the new canonical instance from the outside. Every admin request is signed with the operator's key from REGENT_OPERATOR_KEY (EIP-712, one request each, expiring within a minute); the key never leaves this process and is never printed. Exit 0 when the uplift is done and verified, 1 when it failed or the agent refused (resume with `regent uplift resume`), 2 for usage errors.",
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the running agent's base URL (its /health and admin API)" },
      {
        name: 'target',
        value: 'target',
        description:
          "where to launch the target CVM (default local: the devnet): local, dstack (a dstack-vmm), phala (a new instance of the project's Phala app, with --dir); eigenx is not available yet",
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
        name: 'bundle',
        value: 'dir',
        description: 'the target agent package (package.json, its installed dependencies, app-compose.json; default: the example agent)',
      },
      {
        name: 'vmm-url',
        value: 'url',
        description: "--target dstack: the dstack-vmm URL (token from REGENT_DSTACK_TOKEN; default: the devnet's VMM)",
      },
      {
        name: 'approve',
        description: "devnet: approve the target's compose hash, OS image and KMS root for the agent's app (as its owner) first",
      },
      {
        name: 'dir',
        value: 'dir',
        description:
          "--target dstack: the agent's project (regent.json): the target is built from it with the agent's measured settings and approved in its app (REGENT_DEPLOYER_KEY: the app owner)",
      },
      {
        name: 'network',
        value: 'name',
        description: '--target dstack --dir: a chain of regent.json "networks" (default: the devnet chain)',
      },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      {
        command:
          'REGENT_OPERATOR_KEY=0x… REGENT_DEPLOYER_KEY=0x… regent uplift --agent https://agent.example --target dstack --dir . --network base-sepolia',
        description: 'move an agent deployed with `regent deploy --target dstack` to a new VM of its project on the dstack host',
      },
      {
        command: 'REGENT_OPERATOR_KEY=0x… regent uplift --agent http://127.0.0.1:8080 --target local --approve',
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
      {
        name: 'devnet-dir',
        value: 'dir',
        description: 'devnet to read the chain from for the outside check (skipped without one)',
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
      { name: 'journal', value: 'file', description: "a source's uplift journal (SQLite), read offline" },
    ],
    examples: [
      { command: 'regent uplift status --agent http://127.0.0.1:8080', description: "the agent's session: state, steps, next, result" },
      { command: 'regent uplift status --journal uplift-source.db', description: 'steps done, next step' },
    ],
    docs: 'docs/cli/uplift.md',
    load: () => import('./commands/uplift.js').then((m) => m.status),
  },
  {
    path: ['failover', 'enable'],
    summary: "set the agent's lease on RegentSuccession: standbys take over when the canonical instance dies",
    description:
      "Posts /admin/failover { period, k, marginMs } to the agent's canonical instance (signed with REGENT_OPERATOR_KEY, as `regent uplift` signs): it sets the lease on-chain (RegentSuccession.setLease) and holds it. From then on it acknowledges a write only once k attested standbys hold it, and only inside its lease window (it stops acknowledging marginMs before the lease would expire unrenewed); a standby claims the agent once the lease expires, about one period after the canonical stops renewing. Attach standbys with `regent standby add`. Exit 0 when the lease is set, 1 when the agent refused, 2 for usage errors.",
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the canonical instance's base URL" },
      { name: 'period', value: 'seconds', description: 'lease period, 2–86400 s: the failover time is about one period' },
      { name: 'k', value: 'n', description: 'standbys that must hold a write before it is acknowledged (0–16)', default: '1' },
      {
        name: 'margin-ms',
        value: 'ms',
        description:
          'self-fence margin: stop acknowledging this long before an unrenewed lease expires (below half the period; default 1000, or a quarter of a shorter period)',
      },
    ],
    examples: [
      {
        command: 'REGENT_OPERATOR_KEY=0x… regent failover enable --agent http://127.0.0.1:8080 --period 10',
        description: 'a 10 s lease, every write held by one standby before it is acknowledged',
      },
      { command: 'regent failover enable --agent http://127.0.0.1:8080 --period 30 --k 2 --json', description: 'two copies per write' },
    ],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/failover.js').then((m) => m.enable),
  },
  {
    path: ['failover', 'disable'],
    summary: "clear the agent's lease: its standbys stop receiving writes and never claim",
    args: [],
    flags: [{ name: 'agent', value: 'url', description: "the canonical instance's base URL" }],
    examples: [{ command: 'regent failover disable --agent http://127.0.0.1:8080', description: 'back to one instance, no failover' }],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/failover.js').then((m) => m.disable),
  },
  {
    path: ['failover', 'status'],
    summary: "an instance's failover: role, epoch, lease, window, replication and standbys (a standby: whom it follows)",
    description:
      'GET /admin/failover (signed) on the canonical instance; a standby answers from its public /health (role standby or claiming, the canonical it follows). Exit 0, or 1 when the instance does not answer.',
    args: [],
    flags: [{ name: 'agent', value: 'url', description: 'any instance of the agent: the canonical or a standby' }],
    examples: [
      { command: 'regent failover status --agent http://127.0.0.1:8080', description: 'lease, window, standbys and their lag' },
      { command: 'regent failover status --agent http://127.0.0.1:8081 --json', description: 'a standby: whom it follows, its head' },
    ],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/failover.js').then((m) => m.status),
  },
  {
    path: ['standby', 'add'],
    summary: "launch a standby CVM of the agent's app on the devnet and have the agent attest and attach it",
    description:
      "Reads the canonical's failover status (it must hold a lease: `regent failover enable`), finds the agent's own CVM on the devnet (its instance id), launches another CVM from the exact same compose and app id with REGENT_UPLIFT_ROLE=standby (same KMS key, an approved measurement), waits (at most 120 s) until it answers /health as a standby, then posts /admin/failover/standbys { url } (signed with REGENT_OPERATOR_KEY): the agent verifies the standby's quote, measurement and app, and streams it its state. A refused standby exits 1 with the agent's typed reasons (standby.untrusted_root, standby.measurement, …), and a standby this command launched is stopped. --url attaches a standby you launched yourself. Exit 0 when attached, 1 when it failed or was refused, 2 for usage errors.",
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the canonical instance's base URL" },
      {
        name: 'target',
        value: 'target',
        description:
          'where to launch the standby (default local: the devnet, also spelled devnet); dstack, phala and eigenx are not available yet',
        choices: ['local', 'devnet', 'dstack', 'phala', 'eigenx'],
      },
      {
        name: 'url',
        value: 'url',
        description: "a standby you launched yourself (a CVM of the agent's app, REGENT_UPLIFT_ROLE=standby): attach it, launch nothing",
      },
      {
        name: 'claim-delay-ms',
        value: 'ms',
        description:
          "extra wait after the lease expires before this standby claims (orders claimants; the standby's REGENT_FAILOVER_CLAIM_DELAY_MS)",
      },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      {
        command: 'REGENT_OPERATOR_KEY=0x… regent standby add --agent http://127.0.0.1:8080',
        description: 'a standby CVM of the agent on the devnet, attested and attached',
      },
      {
        command: 'regent standby add --agent http://127.0.0.1:8080 --url http://127.0.0.1:8081 --json',
        description: 'attach a standby launched another way',
      },
    ],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/standby.js').then((m) => m.add),
  },
  {
    path: ['standby', 'ls'],
    summary: "the canonical's standbys: URL, state, instance, the last seq each acknowledged",
    args: [],
    flags: [{ name: 'agent', value: 'url', description: "the canonical instance's base URL" }],
    examples: [{ command: 'regent standby ls --agent http://127.0.0.1:8080', description: 'a table of standbys' }],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/standby.js').then((m) => m.ls),
  },
  {
    path: ['standby', 'rm'],
    summary: 'detach a standby from the agent (--stop also stops its devnet CVM)',
    args: [],
    flags: [
      { name: 'agent', value: 'url', description: "the canonical instance's base URL" },
      { name: 'url', value: 'url', description: "the standby's base URL (as `regent standby ls` lists it)" },
      { name: 'stop', description: "also stop the standby's devnet CVM" },
      { name: 'devnet-dir', value: 'dir', description: devnetDirHelp },
    ],
    examples: [
      {
        command: 'regent standby rm --agent http://127.0.0.1:8080 --url http://127.0.0.1:8081 --stop',
        description: 'detach it and stop its CVM',
      },
    ],
    docs: 'docs/cli/failover.md',
    load: () => import('./commands/standby.js').then((m) => m.rm),
  },
  // `monitor` comes before its subcommand `history`.
  {
    path: ['monitor'],
    summary: 'watch agents continuously: verify each canonical instance, follow the chain and Intel collateral, alert before harm',
    description:
      "Every --interval, for each agent: reads its events since the last block seen (RegentAppAuth, RegentSuccession, AgentTreasury, IdentityRegistry, in bounded ranges), asks its canonical instance for a fresh identity bundle and verifies it (verifyInstance: quote, RTMR3 replay, binding, KMS provenance, identity function, security score), rates its platform under Intel's standard and early TCB info and watches the collateral's nextUpdate. Alerts (measurement.pending, canonical.changed, attestation.failed, tcb.recovery_pending, …) are raised once and resolved once, printed one per line (--json: JSON lines, checks included), POSTed to --webhook (HMAC-SHA256 signed with REGENT_MONITOR_WEBHOOK_SECRET, retried) and stored with every check in SQLite (--db). Without --agent it watches the project's deployed agent (<dir>/.regent/deploy.json). --once checks once and exits 0 when nothing is open, 1 when an alert is, 2 for usage errors; otherwise it runs until interrupted. --ui serves the dashboard on loopback.",
    args: [],
    flags: [
      { name: 'agent', value: 'url|id', description: "an agent's URL or its ERC-8004 agentId (repeatable)", repeatable: true },
      {
        name: 'dir',
        value: 'project',
        description: 'the project whose deployed agent to watch without --agent, and whose .regent/ holds the database',
        default: '.',
      },
      { name: 'db', value: 'file', description: 'the history database (default: <dir>/.regent/monitor.db)' },
      { name: 'interval', value: 'seconds', description: 'time between checks (decimals allowed, at least 0.2)', default: '60' },
      { name: 'once', description: 'check once, print what holds, exit 0 (nothing open) or 1 (alerts)' },
      {
        name: 'webhook',
        value: 'url',
        description: 'POST each alert transition here (repeatable); secret from env REGENT_MONITOR_WEBHOOK_SECRET',
        repeatable: true,
      },
      { name: 'ui', description: 'serve the dashboard and its JSON API while monitoring' },
      { name: 'port', value: 'port', description: 'dashboard port (0: any free port)', default: '8787' },
      {
        name: 'bind',
        value: 'address',
        description: 'dashboard address (anything but loopback exposes it to your network)',
        default: '127.0.0.1',
      },
      { name: 'devnet-dir', value: 'dir', description: 'devnet state directory (chain, contracts, root CA, PCS)', default: '.regent' },
      { name: 'rpc-url', value: 'url', description: 'another chain instead of the devnet (needs --contracts)' },
      {
        name: 'contracts',
        value: 'file',
        description: 'JSON with identityRegistry, appAuth, succession (and treasury) addresses, for --rpc-url',
      },
      {
        name: 'trust',
        value: 'root',
        description: '"devnet" (default with a devnet), "intel" (default with --rpc-url) or a PEM file of a root CA',
      },
      {
        name: 'pccs-url',
        value: 'url',
        description: 'PCCS or Intel PCS base URL (default: the devnet host under --trust devnet, else Intel PCS)',
      },
      {
        name: 'collateral-refresh',
        value: 'seconds',
        description: 'how long fetched collateral is reused (0: every check)',
        default: '3600',
      },
      {
        name: 'collateral-warn',
        value: 'seconds',
        description: 'collateral.expiring when the collateral expires within this',
        default: '604800',
      },
      {
        name: 'state-max-age',
        value: 'seconds',
        description: 'state.stale when the last committed state root is older (chain time)',
        default: '86400',
      },
      {
        name: 'min-tcb',
        value: 'status',
        description: 'tcb.degraded below this TCB status',
        default: 'UpToDate',
        choices: [
          'UpToDate',
          'SWHardeningNeeded',
          'ConfigurationNeeded',
          'ConfigurationAndSWHardeningNeeded',
          'OutOfDate',
          'OutOfDateConfigurationNeeded',
        ],
      },
      { name: 'from-block', value: 'n', description: "first block of the history backfill (default: the contracts' deployment block)" },
    ],
    examples: [
      { command: 'regent monitor', description: "watch this project's deployed agent every minute (devnet in .regent)" },
      { command: 'regent monitor --agent http://127.0.0.1:8080 --agent 7 --interval 10 --json', description: 'two agents, JSON lines' },
      { command: 'regent monitor --once || notify-send "agent alert"', description: 'for cron: exit 1 while an alert is open' },
      {
        command: 'REGENT_MONITOR_WEBHOOK_SECRET=… regent monitor --webhook https://ops.example/hooks/regent --ui',
        description: 'signed webhooks and the dashboard on http://127.0.0.1:8787',
      },
    ],
    docs: 'docs/cli/monitor.md',
    load: () => import('./commands/monitor.js').then((m) => m.watch),
    longRunning: true,
  },
  {
    path: ['monitor', 'history'],
    summary: "an agent's recorded checks, alerts and on-chain events (from the monitor's database)",
    args: [],
    flags: [
      { name: 'agent', value: 'url|id', description: "the agent's URL or ERC-8004 agentId (default: the project's deployed agent)" },
      { name: 'since', value: 'time', description: 'ISO time, unix seconds, or a duration back from now (90s, 15m, 6h, 7d)' },
      { name: 'limit', value: 'n', description: 'at most this many checks', default: '200' },
      { name: 'dir', value: 'project', description: 'the project (its .regent/monitor.db)', default: '.' },
      { name: 'db', value: 'file', description: 'the history database (default: <dir>/.regent/monitor.db)' },
    ],
    examples: [
      { command: 'regent monitor history --agent 7 --since 1d', description: 'the last day of agent 7' },
      { command: 'regent monitor history --json > history.json', description: "the project agent's history, machine-readable" },
    ],
    docs: 'docs/cli/monitor.md',
    load: () => import('./commands/monitor.js').then((m) => m.history),
  },
]
