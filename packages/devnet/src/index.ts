// Simulated TDX hardware of the devnet: the devnet DCAP PKI, its signed collateral, the Quoting Enclave and TD reports.

export { DevnetStartError, down, type Status as DevnetStatus, status, type UpResult, up } from './control.js'
export {
  type CreateOptions as CreateCvmOptions,
  type Cvm,
  createCvm,
  type Faults as CvmFaults,
  type Info as CvmInfo,
  InvalidComposeError,
  InvalidEventError,
  ReportDataTooLongError,
} from './cvm/Cvm.js'
export {
  type AppKeys,
  type AppKeysRequest,
  type CertificateRequest,
  createLocalKeyProvider,
  type KeyProvider,
  KeyRequestRejectedError,
  type LocalKeyProvider,
} from './cvm/KeyProvider.js'
export { type Devnet, type StartDevnetOptions, type StartStep, startDevnet } from './Devnet.js'
export * as DevnetFile from './DevnetFile.js'
// CVMs and their dstack-compatible guest agent.
export * as Attestation from './guest/Attestation.js'
export { type GuestAgent, startGuestAgent } from './guest/GuestAgent.js'
// The devnet itself: state file, in-process devnet, detached control, host and its API, bundles.
export * as Bundle from './host/Bundle.js'
export { type BundleStore, createBundleStore } from './host/BundleStore.js'
export {
  BundleDigestMismatchError,
  BundleNotFoundError,
  BundleUnpinnedError,
  type CreateHostOptions,
  type CvmRecord,
  createHost,
  type Faults,
  type Host,
  type LaunchParameters,
  UnknownCvmError,
} from './host/Host.js'
export { type HostServer, startHostServer } from './host/HostServer.js'
/** The devnet's Intel PCS (PCS API v4 paths) and its devnet-only control. */
export * as DevnetPcs from './host/Pcs.js'
export {
  bundleStoreResolver,
  ImageError,
  imageName as vmmImageName,
  pinnedImage,
  startVmmApi,
  type VmmApi,
  type VmmApiOptions,
} from './host/VmmApi.js'
// The Phala Cloud stand-in (docs/targets/phala.md): its API server, state, app-compose rules and image registry.
export * as PhalaAppCompose from './phala/AppCompose.js'
export { type CentralKms, createCentralKms } from './phala/CentralKms.js'
export { createPhalaCloud, type Faults as PhalaFaults, type PhalaCloud, PhalaError } from './phala/PhalaCloud.js'
export { type PhalaServer, startPhalaServer } from './phala/PhalaServer.js'
export * as PhalaRegistry from './phala/Registry.js'
export type { Phala } from './phala/Setup.js'
export * as DevnetCollateral from './tdx/DevnetCollateral.js'
export * as DevnetPki from './tdx/DevnetPki.js'
export * as DevnetQe from './tdx/DevnetQe.js'
export * as DevnetTd from './tdx/DevnetTd.js'
