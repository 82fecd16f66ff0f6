/**
 * One instance's attestation laid out for people (the dashboard's detail view, issue 18): the identity bundle's
 * claims, the quote's header and TD report fields (MRTD, RTMR0–3, REPORTDATA…), the PCK certificate chain, the
 * dstack event log with RTMR3 replayed from event names and payloads (never the host's digests) and compared with
 * the quoted RTMR3, and the wallet key's signature chain to the KMS root. Everything here is public (what the agent
 * serves to any verifier); the verdict itself is the monitor's check, not this view.
 */
import { ECDH, X509Certificate } from 'node:crypto'
import { EventLog, Quote } from '@regent-tee/attest'
import { type IdentityBundle, verifyProvenance } from '@regent-tee/sdk'
import { getAddress } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'

const hex = (b: Uint8Array | undefined) => (b === undefined ? null : Buffer.from(b).toString('hex'))

export type Detail = ReturnType<typeof describeAttestation>

/** Lays out a bundle; every part that does not parse says so instead of throwing. */
export function describeAttestation(bundle: IdentityBundle) {
  const claims = {
    version: bundle.version,
    agentRegistry: bundle.agentRegistry,
    agentId: bundle.agentId,
    wallet: bundle.wallet,
    appId: bundle.appId,
    instanceId: bundle.instanceId,
    composeHash: bundle.composeHash,
    osImageHash: bundle.osImageHash,
    stateRoot: bundle.stateRoot,
    stateSeq: bundle.stateSeq,
    epoch: bundle.epoch,
    issuedAt: /^\d+$/.test(String(bundle.issuedAt)) ? new Date(Number(bundle.issuedAt) * 1000).toISOString() : String(bundle.issuedAt),
  }
  const statement = (bundle.attestation?.statement ?? null) as Record<string, unknown> | null

  let quote: ReturnType<typeof quoteFields> | { error: string }
  let rtmr3: Uint8Array | undefined
  try {
    const parsed = Quote.parse(new Uint8Array(Buffer.from(String(bundle.attestation?.quote ?? '').replace(/^0x/, ''), 'hex')))
    quote = quoteFields(parsed)
    rtmr3 = Quote.rtmrs(parsed)?.[3]
  } catch (error) {
    quote = { error: (error as { shortMessage?: string }).shortMessage ?? (error as Error).message }
  }

  let eventLog:
    | {
        events: { imr: number; name: string; payload: string; payloadText: string | null }[]
        replayedRtmr3: string
        matchesQuote: boolean | null
      }
    | { error: string }
  try {
    const log = EventLog.parse(String(bundle.attestation?.eventLog ?? ''))
    const replayed = EventLog.replay(log)[3]
    eventLog = {
      events: log
        .filter((e) => e.imr === 3)
        .map((e) => ({ imr: e.imr, name: e.event, payload: hex(e.payload) ?? '', payloadText: printable(e.payload) })),
      replayedRtmr3: hex(replayed) ?? '',
      matchesQuote: rtmr3 === undefined ? null : Buffer.from(rtmr3).equals(Buffer.from(replayed)),
    }
  } catch (error) {
    eventLog = { error: (error as { shortMessage?: string }).shortMessage ?? (error as Error).message }
  }

  const p = bundle.keyProvenance
  let keyChain: Record<string, unknown>
  if (p === null || p === undefined)
    keyChain = { imported: true, note: 'the wallet key was imported by an uplift (option A): no KMS signature chain' }
  else {
    const v = verifyProvenance({ provenance: p, address: bundle.wallet, appId: bundle.appId })
    keyChain = {
      path: p.path,
      purpose: p.purpose,
      walletPublicKey: p.publicKey,
      appKeySignature: p.signatureChain[0] ?? null,
      kmsSignature: p.signatureChain[1] ?? null,
      kmsRootPublicKey: v.kmsRootPublicKey ?? null,
      kmsRootAddress: v.kmsRootPublicKey ? addressOf(v.kmsRootPublicKey) : null,
      consistent: v.ok,
      reasons: v.reasons,
    }
  }
  return { claims, statement, quote, eventLog, keyChain }
}

function quoteFields(q: Quote.Quote) {
  const header = {
    version: q.header.version,
    teeType: q.header.teeType === 0x81 ? 'TDX (0x81)' : q.header.teeType === 0 ? 'SGX (0x00)' : `0x${q.header.teeType.toString(16)}`,
    attestationKeyType: 'ECDSA-256 P-256 (2)',
    qeSvn: q.header.qeSvn,
    pceSvn: q.header.pceSvn,
    qeVendorId: hex(q.header.qeVendorId),
  }
  const td = Quote.tdReport(q)
  const body = td
    ? {
        type: td.type,
        teeTcbSvn: hex(td.teeTcbSvn),
        mrSeam: hex(td.mrSeam),
        mrSignerSeam: hex(td.mrSignerSeam),
        seamAttributes: hex(td.seamAttributes),
        tdAttributes: hex(td.tdAttributes),
        xfam: hex(td.xfam),
        mrTd: hex(td.mrTd),
        mrConfigId: hex(td.mrConfigId),
        mrOwner: hex(td.mrOwner),
        mrOwnerConfig: hex(td.mrOwnerConfig),
        rtmr0: hex(td.rtmr0),
        rtmr1: hex(td.rtmr1),
        rtmr2: hex(td.rtmr2),
        rtmr3: hex(td.rtmr3),
        reportData: hex(td.reportData),
      }
    : { type: q.type }
  let pckChain: { subject: string; issuer: string; notAfter: string }[] | { error: string }
  try {
    pckChain = Quote.pckCertChain(q).map((der) => {
      const c = new X509Certificate(der)
      return {
        subject: c.subject.replaceAll('\n', ', '),
        issuer: c.issuer.replaceAll('\n', ', '),
        notAfter: new Date(c.validTo).toISOString(),
      }
    })
  } catch (error) {
    pckChain = { error: (error as Error).message }
  }
  return { header, body, pckChain, attestationKey: hex(q.signatureData.attestationKey) }
}

function printable(bytes: Uint8Array): string | null {
  const text = Buffer.from(bytes).toString('utf8')
  return bytes.length > 0 && bytes.length <= 512 && /^[\x20-\x7e]*$/.test(text) ? text : null
}

function addressOf(compressed: string): string | null {
  try {
    const uncompressed = ECDH.convertKey(compressed.replace(/^0x/, ''), 'secp256k1', 'hex', 'hex', 'uncompressed') as string
    return getAddress(publicKeyToAddress(`0x${uncompressed}`))
  } catch {
    return null
  }
}
