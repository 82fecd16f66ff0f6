/**
 * The example agent as an uplift target (docs/uplift.md "HTTP roles"): a fresh CVM that does not register or
 * enroll; it derives its own wallet and sealing key from the KMS, journals the session in its data directory and
 * serves the uplift API until a source hands the agent over. `GET /health` says whether it is canonical yet.
 * Once RegentSuccession names this instance canonical (host = its public URL, signer = its agent key), it also
 * serves the agent's memory routes on the loaded state (`Handover.ts`), so a forwarding source loses no request.
 */
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import {
  createTarget,
  createTeeClient,
  deriveSealingKey,
  deriveWallet,
  openSealedState,
  openUpliftJournal,
  readCanonical,
  fromEnv as teeFromEnv,
  toAccount,
} from '@regent/sdk'
import { connect, fundIfEmpty } from './chain.js'
import type { Config } from './config.js'
import { serveMemory } from './Handover.js'

export async function bootTarget(config: Config): Promise<{ server: Server; close(): void }> {
  const tee = createTeeClient({ transport: teeFromEnv() })
  const wallet = await deriveWallet(tee)
  const { publicClient: client, walletClient } = connect(config, toAccount(wallet))
  await fundIfEmpty(config, client, wallet.address)
  const sealingKey = await deriveSealingKey(tee)
  const state = openSealedState({ path: join(config.dataDir, 'agent.sealed'), key: sealingKey })
  const journal = openUpliftJournal({ path: join(config.dataDir, 'uplift-target.db'), role: 'target', key: sealingKey })
  const target = createTarget({
    tee,
    wallet,
    walletClient,
    client,
    contracts: config.contracts,
    chainId: config.chainId,
    targetUrl: config.publicUrl,
    journal,
    state,
  })
  // Canonical once the chain says so (before the Handover message arrives: the source switches on its handover-tx).
  let canonical = false
  const isCanonical = async () => {
    if (journal.get('handover') !== undefined) canonical = true
    if (canonical) return true
    const hello = journal.get<{ agentId: string }>('source-hello')
    const signer = (await target.status()).agentWallet
    if (hello === undefined || signer === null || journal.get('state-loaded') === undefined) return false
    const now = await readCanonical(client, { contracts: config.contracts, agentId: BigInt(hello.agentId) })
    canonical = now.instance.host === config.publicUrl && now.instance.signer.toLowerCase() === signer.toLowerCase()
    return canonical
  }
  const server = createServer((req, res) => {
    target.handle(req, res).then(
      async (handled) => {
        if (handled) return
        if (req.url !== '/health' && (await isCanonical()) && (await serveMemory(state.db, req, res))) {
          if (req.method === 'POST') state.save()
          return
        }
        const body =
          req.method === 'GET' && req.url === '/health'
            ? { status: 200, json: { ok: true, role: 'uplift-target', ...(await target.status()) } }
            : { status: 404, json: { error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } } }
        res.writeHead(body.status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body.json)}\n`)
      },
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal","message":"internal error"}}\n'),
    )
  })
  return {
    server,
    close() {
      journal.close()
      state.close()
    },
  }
}
