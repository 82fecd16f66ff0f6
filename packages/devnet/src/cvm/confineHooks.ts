/** Loader hooks of confine.ts (they run on Node's loader thread). */
let root = ''

export function initialize(data: { root: string }): void {
  root = data.root
}

type Resolved = { url: string; format?: string | null; shortCircuit?: boolean }
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<Resolved> {
  const resolved = await next(specifier, context)
  if (resolved.url.startsWith('node:') || resolved.url.startsWith(root)) return resolved
  throw Object.assign(new Error(`cannot load ${resolved.url}: outside this CVM's bundle (${root}), so not covered by its compose hash`), {
    code: 'ERR_REGENT_OUTSIDE_BUNDLE',
  })
}
