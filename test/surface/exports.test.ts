// The public surface of every published package (issue 14): the names each entry point exports at runtime, sorted.
// A change to the surface shows here as a snapshot diff to review: an export added, dropped or renamed is a choice,
// never an accident. Types are checked by the build and by attw (npm run check:packages).
import { describe, expect, test } from 'vitest'

const entryPoints: Record<string, () => Promise<Record<string, unknown>>> = {
  '@regent-tee/core': () => import('@regent-tee/core'),
  '@regent-tee/attest': () => import('@regent-tee/attest'),
  '@regent-tee/contracts': () => import('@regent-tee/contracts'),
  '@regent-tee/contracts/anvil': () => import('@regent-tee/contracts/anvil'),
  '@regent-tee/kms': () => import('@regent-tee/kms'),
  '@regent-tee/devnet': () => import('@regent-tee/devnet'),
  '@regent-tee/sdk': () => import('@regent-tee/sdk'),
  '@regent-tee/sdk/chain': () => import('@regent-tee/sdk/chain'),
  '@regent-tee/sdk/failover': () => import('@regent-tee/sdk/failover'),
  '@regent-tee/sdk/uplift': () => import('@regent-tee/sdk/uplift'),
  '@regent-tee/cli': () => import('@regent-tee/cli'),
}

/** Export names, with a namespace's own names one level down (`Decide.evaluate`). */
function surface(module: Record<string, unknown>): string[] {
  const names: string[] = []
  for (const [name, value] of Object.entries(module)) {
    names.push(name)
    const isNamespace = value !== null && typeof value === 'object' && Object.prototype.toString.call(value) === '[object Module]'
    if (isNamespace) for (const inner of Object.keys(value as object)) names.push(`${name}.${inner}`)
  }
  return names.sort()
}

describe('public surface', () => {
  for (const [entry, load] of Object.entries(entryPoints))
    test(`behavior: ${entry} exports exactly its reviewed names`, async () => {
      expect(surface(await load())).toMatchSnapshot()
    })

  test('behavior: no entry point exports the same value under two names (no renamed re-exports)', async () => {
    for (const [entry, load] of Object.entries(entryPoints)) {
      const seen = new Map<unknown, string>()
      for (const [name, value] of Object.entries(await load())) {
        if (typeof value !== 'function' && (typeof value !== 'object' || value === null)) continue
        const other = seen.get(value)
        expect(other, `${entry}: ${name} and ${other} are one value`).toBeUndefined()
        seen.set(value, name)
      }
    }
  })
})
