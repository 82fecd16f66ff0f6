/**
 * Compiles every `.sol` file under `contracts/` with the pinned solc (npm `solc`, standard JSON) and writes
 * `artifacts/<Name>.json` plus `src/generated/<Name>.ts` (`as const` ABI for viem inference) for each file that
 * holds a deployable contract of its own name, and for the library contracts listed in `libraryArtifacts`.
 * `contracts/vendor/<project>/` holds third-party sources, unchanged, with their provenance in a README.
 *
 *   tsx scripts/build.ts          rebuild and write
 *   tsx scripts/build.ts --check  rebuild in memory; exit 1 if anything committed differs (CI)
 */
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { keccak256 } from 'viem'

const require = createRequire(import.meta.url)
const solc = require('solc') as {
  version(): string
  compile(input: string, callbacks: { import(path: string): { contents: string } | { error: string } }): string
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const sourcesDir = join(root, 'contracts')
const artifactsDir = join(root, 'artifacts')
const generatedDir = join(root, 'src', 'generated')

/** Compiler settings, recorded in every artifact. Changing them changes bytecode: rebuild and commit. */
export const settings = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  viaIR: false,
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: {
    '*': {
      '*': [
        'abi',
        'evm.bytecode.object',
        'evm.deployedBytecode.object',
        'evm.deployedBytecode.immutableReferences',
        'evm.methodIdentifiers',
      ],
    },
  },
} as const

/** Source files, relative to `contracts/` with `/` separators (interfaces are compiled but not emitted). */
const contractFiles = readdirSync(sourcesDir, { recursive: true, encoding: 'utf8' })
  .map((f) => f.split(sep).join('/'))
  .filter((f) => f.endsWith('.sol'))
  .sort()

/** Contracts of imported libraries that get an artifact too: [source unit, contract name]. */
const libraryArtifacts: readonly (readonly [string, string])[] = [
  // dstack's DstackKms and DstackApp are UUPS implementations: they are deployed behind this proxy.
  ['@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol', 'ERC1967Proxy'],
]

function findImport(path: string): { contents: string } | { error: string } {
  const candidates = [join(sourcesDir, path), join(root, 'node_modules', path), join(root, '..', '..', 'node_modules', path)]
  for (const c of candidates) if (existsSync(c)) return { contents: readFileSync(c, 'utf8') }
  return { error: `import not found: ${path}` }
}

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[]
  contracts: Record<
    string,
    Record<
      string,
      {
        abi: unknown[]
        evm: {
          bytecode: { object: string }
          deployedBytecode: { object: string; immutableReferences?: Record<string, { start: number; length: number }[]> }
          methodIdentifiers: Record<string, string>
        }
      }
    >
  >
}

function compile(): Map<string, { json: string; ts: string }> {
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(contractFiles.map((f) => [f, { content: readFileSync(join(sourcesDir, f), 'utf8') }])),
    settings,
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  for (const w of output.errors ?? []) if (w.severity === 'warning') process.stderr.write(`${w.formattedMessage}\n`)

  const out = new Map<string, { json: string; ts: string }>()
  const units = [
    ...contractFiles.map((file) => [file, file.replace(/^.*\//, '').replace(/\.sol$/, ''), `contracts/${file}`] as const),
    ...libraryArtifacts.map(([unit, name]) => [unit, name, unit] as const),
  ]
  for (const [file, name, sourceName] of units) {
    const c = output.contracts[file]?.[name]
    if (!c) continue // a file without a contract of its own name (interfaces, libraries) emits nothing
    if (c.evm.bytecode.object.length === 0) continue // abstract contract or interface
    const artifact = {
      contractName: name,
      sourceName,
      compiler: {
        name: 'solc',
        version: solc.version(),
        settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer, viaIR: settings.viaIR },
      },
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      methodIdentifiers: c.evm.methodIdentifiers,
    }
    const json = `${JSON.stringify(artifact, null, 2)}\n`
    // The runtime code a deployment must have (docs/contracts.md "Runtime code"): its length, where constructor-set
    // immutables sit (they differ per deployment), and keccak256 of the code with those ranges zeroed.
    const deployed = Buffer.from(c.evm.deployedBytecode.object, 'hex')
    const immutables = Object.values(c.evm.deployedBytecode.immutableReferences ?? {})
      .flat()
      .map((r) => [r.start, r.length] as const)
      .sort((a, b) => a[0] - b[0])
    for (const [start, length] of immutables) deployed.fill(0, start, start + length)
    const runtimeCode = { length: deployed.length, immutables, maskedHash: keccak256(deployed) }
    // RegentAppAuth → regentAppAuth, ERC1967Proxy → erc1967Proxy
    const camel = name.replace(/^[A-Z]+(?=[A-Z][a-z]|\d|$)|^[A-Z]/, (m) => m.toLowerCase())
    const ts = [
      `// Generated by packages/contracts/scripts/build.ts from ${sourceName}. Do not edit.`,
      `export const ${camel}Abi = ${JSON.stringify(c.abi, null, 2)} as const`,
      '',
      `export const ${camel}Bytecode = '0x${c.evm.bytecode.object}' as const`,
      '',
      '/** The runtime code of a deployment: length, immutable ranges [start, length], keccak256 with them zeroed. */',
      `export const ${camel}RuntimeCode = ${JSON.stringify(runtimeCode)} as const`,
      '',
    ].join('\n')
    out.set(name, { json, ts })
  }
  return out
}

function main(): void {
  const check = process.argv.includes('--check')
  const built = compile()
  const index = `${[
    '// Generated by packages/contracts/scripts/build.ts. Do not edit.',
    ...[...built.keys()].map((n) => `export * from './${n}.js'`),
  ].join('\n')}\n`
  const files = new Map<string, string>([[join(generatedDir, 'index.ts'), index]])
  for (const [name, { json, ts }] of built) {
    files.set(join(artifactsDir, `${name}.json`), json)
    files.set(join(generatedDir, `${name}.ts`), ts)
  }
  const existing = [
    ...readdirSync(artifactsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(artifactsDir, f)),
    ...readdirSync(generatedDir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(generatedDir, f)),
  ]
  if (check) {
    const stale = [...files].filter(([p, c]) => !existsSync(p) || readFileSync(p, 'utf8') !== c).map(([p]) => p)
    const orphans = existing.filter((p) => !files.has(p))
    if (stale.length + orphans.length > 0) {
      process.stderr.write(
        `contract artifacts are stale; run \`npm run contracts:build\` and commit:\n${[...stale, ...orphans].map((p) => `  ${p.slice(root.length + 1)}`).join('\n')}\n`,
      )
      process.exit(1)
    }
    process.stdout.write(`contract artifacts are fresh (${built.size} contracts, solc ${solc.version()})\n`)
    return
  }
  for (const [p, c] of files) writeFileSync(p, c)
  for (const p of existing) if (!files.has(p)) unlinkSync(p)
  process.stdout.write(`built ${built.size} contracts with solc ${solc.version()}: ${[...built.keys()].join(', ')}\n`)
}

main()
