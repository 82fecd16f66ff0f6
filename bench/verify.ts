/**
 * Quote verification throughput on one core: @regent/attest verifyQuoteSync vs @phala/dcap-qvl 0.3.9 `verify`, on the
 * same real quotes (shared/vectors) with the same collateral and time, in the same process, in interleaved rounds.
 * Also measures the floor: the per-quote signature work with node:crypto alone (attestation key import, quote
 * signature, QE report signature, PCK leaf signature). Prints one JSON object.
 *
 *   npm run bench:verify
 */
import { createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import qvl from '@phala/dcap-qvl'
import { CertChain, Collateral, intelSgxRootCa, Quote, verifyQuoteSync } from '@regent/attest'

const vectors = fileURLToPath(new URL('../../shared/vectors/', import.meta.url))
const bin = (p: string) => new Uint8Array(readFileSync(vectors + p))
const text = (p: string) => readFileSync(vectors + p, 'utf8')

const sets = [
  { quote: bin('dcap-qvl/sample/tdx_quote'), collateral: 'dcap-qvl/sample/tdx_quote_collateral.json', now: 1751624191 },
  { quote: bin('dcap-qvl/sample/sgx_quote'), collateral: 'dcap-qvl/sample/sgx_quote_collateral.json', now: 1751624924 },
  {
    quote: bin('go-tdx-guest/testdata/quote_v5_sample.dat'),
    collateral: 'dcap-qvl/sample/tdx_quote_outdated_collateral.json',
    now: 1772707803,
  },
  {
    quote: bin('automata-dcap-attestation/solana-tests-data/quote_tdx.bin'),
    collateral: '_composed/automata-solana-tdx-00806f050000-2025-07_collateral.json',
    now: 1753175614,
  },
].map((s) => {
  const json = JSON.parse(text(s.collateral)) as Collateral.Json
  const date = new Date(s.now * 1000)
  // Per-collateral work, done once (what Collateral.createCache does in production).
  const verified = Collateral.verify(Collateral.parse(json), { now: date, trustedRoots: [intelSgxRootCa] })
  // Floor inputs: the raw pieces a minimal verifier needs per quote.
  const quote = Quote.parse(s.quote)
  const [leafPem] = CertChain.split(Quote.pckCertChainPem(quote))
  const leaf = new X509Certificate(leafPem as string)
  const signedLength = Quote.signedLength(quote)
  const qeOffset = signedLength + 4 + 128 + (quote.header.version === 3 ? 0 : 6)
  return { ...s, json, date, verified, leaf, leafKey: leaf.publicKey, signedLength, qeOffset, pckCaKey: verified.pckCa.publicKey }
})

function ours(): void {
  for (const s of sets) {
    const verdict = verifyQuoteSync(s.quote, { collateral: s.verified, now: s.date })
    if (!verdict.ok) throw new Error(`ours rejected a vector: ${JSON.stringify(verdict.reasons)}`)
  }
}

function theirs(): void {
  for (const s of sets) qvl.verify(s.quote, s.json, s.now)
}

const p1363 = 'ieee-p1363' as const
function floor(): void {
  for (const s of sets) {
    const q = s.quote
    const sigAt = s.signedLength + 4
    const key = q.subarray(sigAt + 64, sigAt + 128)
    const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url')
    const attestationKey = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: b64(key.subarray(0, 32)), y: b64(key.subarray(32)) },
      format: 'jwk',
    })
    const ok =
      cryptoVerify('sha256', q.subarray(0, s.signedLength), { key: attestationKey, dsaEncoding: p1363 }, q.subarray(sigAt, sigAt + 64)) &&
      cryptoVerify(
        'sha256',
        q.subarray(s.qeOffset, s.qeOffset + 384),
        { key: s.leafKey, dsaEncoding: p1363 },
        q.subarray(s.qeOffset + 384, s.qeOffset + 448),
      ) &&
      s.leaf.verify(s.pckCaKey)
    if (!ok) throw new Error('floor: a signature did not verify')
  }
}

function time(f: () => void, iterations: number): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) f()
  return Number(process.hrtime.bigint() - start) / 1e9
}

// Warm up (JIT, first-call costs of both libraries), then interleaved rounds.
for (let i = 0; i < 20; i++) {
  ours()
  theirs()
  floor()
}
const rounds = 10
const totals = { ours: 0, theirs: 0, floor: 0 }
const perRound = { ours: [] as number[], theirs: [] as number[], floor: [] as number[] }
const iterations = { ours: 60, theirs: 8, floor: 120 }
for (let r = 0; r < rounds; r++) {
  for (const name of ['ours', 'theirs', 'floor'] as const) {
    const f = name === 'ours' ? ours : name === 'theirs' ? theirs : floor
    const seconds = time(f, iterations[name])
    totals[name] += seconds
    perRound[name].push((iterations[name] * sets.length) / seconds)
  }
}
const rate = (name: keyof typeof totals) => (rounds * iterations[name] * sets.length) / totals[name]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const round = (x: number) => Math.round(x * 10) / 10
const oursRate = rate('ours')
const theirsRate = rate('theirs')
const floorRate = rate('floor')
console.log(
  JSON.stringify(
    {
      benchmark: 'verify',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      quotes: sets.length,
      rounds,
      oursPerSecond: Math.round(oursRate),
      dcapQvlPerSecond: Math.round(theirsRate),
      floorPerSecond: Math.round(floorRate),
      ratio: round(oursRate / theirsRate),
      oursOverFloor: round(floorRate / oursRate),
      medianRoundPerSecond: {
        ours: Math.round(median(perRound.ours)),
        dcapQvl: Math.round(median(perRound.theirs)),
        floor: Math.round(median(perRound.floor)),
      },
      notes: [
        'Same 4 real quotes (TDX v4, SGX v3, TDX v5, TDX v4 OutOfDate), same collateral and time, one process, interleaved rounds, one core (synchronous).',
        'Ours reuses collateral verified once by Collateral.verify (CRLs, TCB info, QE identity, PCK CA chain), as Collateral.createCache does; dcap-qvl re-verifies the whole collateral on every call. That is the intended design.',
        'Per quote ours still does: parse, PCK leaf issuer/signature/validity/revocation/CN, QE report signature, QE binding, QE identity match, attestation key import, quote signature, TCB level + module + convergence, default policy. PCK leaf parsing (X509Certificate + SGX extensions) is memoised by exact PEM text; no check is skipped.',
        'Floor = node:crypto alone per quote: attestation key import (JWK) + quote signature + QE report signature + PCK leaf signature (PCK CA and PCK leaf keys cached, as ours does), ieee-p1363 signatures.',
        'oursOverFloor = floor rate / ours rate (target <= 3); ratio = ours rate / dcap-qvl rate (target >= 10).',
      ],
    },
    null,
    2,
  ),
)
