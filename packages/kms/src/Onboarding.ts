/**
 * KMS replication by attested onboarding (DESIGN.md §6 "a new node joins only by attested onboarding from an
 * existing node with an approved KMS measurement"; dstack's `GetKmsKey` + `bootAuth/kms`, reference/dstack.md
 * §5.1, §5.3). The joining node quotes over ReleaseRequest.toReportData('onboard', its ephemeral key, a nonce of
 * the serving node); the serving node verifies the quote like an app key request, then asks RegentAppAuth
 * `isKmsAllowed(bootInfo)` — TCB UpToDate, KMS OS image approved and active, KMS measurement approved and active
 * — checks its own TCB policy, and only then sends rootK256 ‖ rootCa encrypted to the ephemeral key.
 *
 * The KMS measurement is dstack's mr_aggregated in boot-time mode (KeyRelease.bootMeasurements): MRTD, RTMR0–2,
 * RTMR3 replayed to `boot-mr-done` (app-id, compose-hash, instance-id) and MRCONFIGID/MROWNER/MROWNERCONFIG.
 * A KMS deployment therefore pins one OS image, one compose, one app id and no instance id
 * (`no_instance_id: true`) — docs/kms.md "What identifies a KMS node".
 */
import type { TcbInfo } from '@regent-tee/attest'
import * as KeyRelease from './KeyRelease.js'
import { type Attest, createKmsClient } from './KmsClient.js'
import type * as ReleaseRequest from './ReleaseRequest.js'
import * as RootKeys from './RootKeys.js'

/**
 * The serving node's decision on an onboarding request whose quote verified and whose nonce was consumed
 * ({@link KeyRelease.verifyRequest} with purpose 'onboard'), in order: the KMS OS image whose approved measurements
 * the quote carries (`os_image.measurement`, from RegentAppAuth's KMS table, app id 0), `isKmsAllowed` (`tcb.status`,
 * `os_image.not_approved`, `os_image.timelock`, `measurement.not_approved`, `measurement.timelock`;
 * `chain.unavailable` when the chain cannot be read), the node's TCB policy (`tcb.status`).
 *
 * @example
 * const result = await Onboarding.decide({ appAuth, minTcbStatus: 'UpToDate' }, facts, request)
 */
export async function decide(
  context: { appAuth: KeyRelease.AppAuth; minTcbStatus: TcbInfo.Status },
  facts: KeyRelease.Facts,
  request: Pick<ReleaseRequest.Request, 'claimedOsImageHash'>,
): Promise<{ facts: KeyRelease.Facts } | { refusal: KeyRelease.Refusal }> {
  const unavailable = { status: 503, code: 'chain.unavailable', message: 'RegentAppAuth could not be read; nothing was released.' } as const
  let block: bigint
  try {
    block = await context.appAuth.latestBlock()
  } catch {
    return { refusal: unavailable }
  }
  const withImage = await KeyRelease.resolveOsImage({
    appAuth: context.appAuth,
    facts,
    table: KeyRelease.kmsImagesTable,
    claimed: request.claimedOsImageHash,
    block,
  })
  if ('code' in withImage) return { refusal: withImage }
  let answer: { allowed: boolean; reason: string }
  try {
    answer = await context.appAuth.isKmsAllowed(KeyRelease.toBootInfo(withImage), block)
  } catch {
    return { refusal: unavailable }
  }
  const refusal = KeyRelease.appAuthRefusal(answer) ?? KeyRelease.tcbRefusal({ status: withImage.tcbStatus, minimum: context.minTcbStatus })
  return refusal ? { refusal } : { facts: withImage }
}

/**
 * The joining side: onboards from the node at `url` and returns the root keys (checked to be the answering node's
 * root). The caller seals them at rest (RootKeys.seal) and wipes them when done.
 *
 * @throws {KmsClient.RequestRefusedError} with the serving node's refusal code.
 * @example
 * const keys = await Onboarding.join({ url, attest: (reportData) => cvm.quote({ reportData }) })
 */
export async function join(options: { url: string; attest: Attest; vmConfig?: string }): Promise<RootKeys.RootKeys> {
  const { rootKeys } = await createKmsClient({ url: options.url }).onboard({
    attest: options.attest,
    ...(options.vmConfig === undefined ? {} : { vmConfig: options.vmConfig }),
  })
  try {
    return RootKeys.fromBytes(rootKeys)
  } finally {
    rootKeys.fill(0)
  }
}
