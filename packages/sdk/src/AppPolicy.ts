/**
 * What an instance of an agent's app must measure to be trusted with anything (DESIGN.md §9; docs/uplift.md
 * "Verifying the target", docs/failover.md "Attaching a standby"): its quote's app id is the agent's app, its compose
 * hash is approved and out of its timelock in RegentAppAuth, and its MRTD/RTMR0–2 are an approved, active OS image of
 * the app (`OsImage.checker`; the `os-image-hash` event is only a claim). The chain decides, never the instance.
 */

import type { Policy } from '@regent-tee/attest'
import { regentAppAuthAbi } from '@regent-tee/contracts'
import type { Address, Client, Hex } from 'viem'
import { readContract } from 'viem/actions'
import * as OsImage from './OsImage.js'

export type AppPolicy = {
  /** For `verifyQuote`'s policy: a reason string when the quote's app or compose hash is not approved. */
  readonly approvedMeasurements: NonNullable<Policy.Options['approvedMeasurements']>
  /** The OS image check of the app. */
  readonly osImage: OsImage.Check
}

/**
 * The policy of app `appId` on `client`'s chain.
 *
 * @example
 * const { approvedMeasurements, osImage } = appPolicy(client, { appAuth: contracts.appAuth, appId })
 */
export function appPolicy(client: Client, { appAuth, appId }: { appAuth: Address; appId: Hex }): AppPolicy {
  return {
    approvedMeasurements: async (q) => {
      if (q.appId === undefined || q.composeHash === undefined) return 'no app id or compose hash'
      if (`0x${q.appId}` !== appId.toLowerCase()) return `app 0x${q.appId} is not the agent's app ${appId}`
      const approved = await readContract(client, {
        address: appAuth,
        abi: regentAppAuthAbi,
        functionName: 'isComposeHashApproved',
        args: [appId, `0x${q.composeHash}`],
      })
      return approved || `compose hash 0x${q.composeHash} is not approved (or still in its timelock) for app ${appId}`
    },
    osImage: OsImage.checker(client, { appAuth, appId }),
  }
}
