/**
 * `<project>/.regent/deploy.json`: the last deployment of the project (version 1, no secrets). A redeploy
 * reads it to stop the previous CVM and to say what changed.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export type Record = {
  version: 1
  target: 'local' | 'dstack'
  name: string
  chainId: number
  /** With chainId and appAuth, what identifies the chain (genesis hash on a devnet, deployment block hash elsewhere). */
  chainBlockHash?: string
  /** --target dstack: the VM id and the VMM origin. */
  vmId?: string
  vmmUrl?: string
  identityRegistry: string
  appAuth: string
  appId: string
  agentId: string
  agentRegistry: string
  wallet: string
  composeHash: string
  bundleDigest: string
  cvmId: string
  instanceId: string
  url: string
  deployedAt: string
}

export const path = (dir: string) => join(dir, '.regent', 'deploy.json')

/** The previous deployment, or undefined (none, or unreadable: a redeploy then behaves like a first deploy). */
export async function read(dir: string): Promise<Record | undefined> {
  const text = await readFile(path(dir), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as Partial<Record>
    return value.version === 1 && typeof value.appId === 'string' && typeof value.cvmId === 'string' ? (value as Record) : undefined
  } catch {
    return undefined
  }
}

/** Writes the record atomically (temp file + rename). */
export async function write(dir: string, record: Record): Promise<void> {
  await mkdir(join(dir, '.regent'), { recursive: true })
  const tmp = `${path(dir)}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`)
  await rename(tmp, path(dir))
}
