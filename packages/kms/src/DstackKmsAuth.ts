/**
 * dstack's on-chain KMS authorization as a KMS node consults it (docs/kms.md "Apps under dstack's on-chain KMS",
 * docs/targets/phala.md): for an app registered in dstack's `DstackKms` (vendored, contracts/vendor/dstack), the
 * decision is `DstackKms.isAppAllowed(bootInfo)` — dstack's own logic: app registered, OS image allowed by the KMS
 * owner, code at the app id, then the app contract's `isAppAllowed` (Regent's RegentDstackApp forwards to
 * RegentAppAuth). Every other app keeps RegentAppAuth's `isAppAllowedWithKms`. Both read at the same block, as
 * `KeyRelease.createAppAuth` does, so a decision never mixes two chain states.
 */
import { dstackKmsAbi } from '@regent-tee/contracts'
import type { Address, PublicClient } from 'viem'
import type * as KeyRelease from './KeyRelease.js'

/** Reads of one DstackKms. */
export type DstackKmsAuth = {
  /** Its address. */
  readonly address: Address
  /** `registeredApps(appId)` at `block`. */
  isRegistered(appId: Address, block: bigint): Promise<boolean>
  /** `isAppAllowed(bootInfo)` at `block`. */
  isAppAllowed(bootInfo: KeyRelease.BootInfo, block: bigint): Promise<{ allowed: boolean; reason: string }>
}

/**
 * A reader of the DstackKms at `address`.
 *
 * @example
 * const dstack = DstackKmsAuth.create({ client, address: config.dstackKms })
 */
export function create(options: { client: PublicClient; address: Address }): DstackKmsAuth {
  const { client, address } = options
  return {
    address,
    isRegistered: (appId, blockNumber) =>
      client.readContract({ address, abi: dstackKmsAbi, functionName: 'registeredApps', args: [appId], blockNumber }),
    async isAppAllowed(bootInfo, blockNumber) {
      const [allowed, reason] = await client.readContract({
        address,
        abi: dstackKmsAbi,
        functionName: 'isAppAllowed',
        args: [{ ...bootInfo, advisoryIds: [...bootInfo.advisoryIds] }],
        blockNumber,
      })
      return { allowed, reason }
    },
  }
}

/**
 * `appAuth` with apps registered in `dstack` decided by DstackKms: `isAppAllowedWithKms` asks RegentAppAuth first
 * only for the block number it reads at, then DstackKms at that block for a registered app. The KMS root check of
 * such an app is its app contract's (RegentDstackApp asks RegentAppAuth for the root that contract names).
 * `isKmsAllowed` (onboarding of KMS nodes) is RegentAppAuth's unchanged.
 *
 * @example
 * const appAuth = DstackKmsAuth.withDstackKms(KeyRelease.createAppAuth({ client, address }), dstack)
 */
export function withDstackKms(appAuth: KeyRelease.AppAuth, dstack: DstackKmsAuth | undefined): KeyRelease.AppAuth {
  if (!dstack) return appAuth
  return {
    ...appAuth,
    isKmsAllowed: (bootInfo) => appAuth.isKmsAllowed(bootInfo),
    async isAppAllowedWithKms(bootInfo, kmsRoot) {
      const regent = await appAuth.isAppAllowedWithKms(bootInfo, kmsRoot)
      if (!(await dstack.isRegistered(bootInfo.appId, regent.block))) return regent
      return { ...(await dstack.isAppAllowed(bootInfo, regent.block)), block: regent.block }
    },
  }
}
