// @regent-tee/sdk — the in-CVM runtime (DESIGN.md §7): the TEE client (viem-style client, transports, guest-agent
// actions), deterministic keys with provenance, sign-and-attest, identity bundles, sealed state and checkpoints.
export { type AttestParameters, type AttestReturnType, attest } from './actions/attest.js'
export { type EmitEventParameters, EmptyEventNameError, emitEvent } from './actions/emitEvent.js'
export { type GetKeyParameters, type GetKeyReturnType, getKey } from './actions/getKey.js'
export { type GetQuoteParameters, type GetQuoteReturnType, getQuote, ReportDataTooLongError } from './actions/getQuote.js'
export { type GetTlsKeyParameters, type GetTlsKeyReturnType, getTlsKey } from './actions/getTlsKey.js'
export { type InfoReturnType, info, type TcbInfo } from './actions/info.js'
export { PrehashLengthError, type SignAlgorithm, type SignParameters, type SignReturnType, sign } from './actions/sign.js'
export { type VerifyParameters, type VerifyReturnType, verify } from './actions/verify.js'
export { type VersionReturnType, version } from './actions/version.js'
export * as CanonicalJson from './CanonicalJson.js'
export * as Checkpoint from './Checkpoint.js'
export { type BaseTeeClient, type CreateTeeClientOptions, createTeeClient, type TeeClient } from './createTeeClient.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export {
  bundleVersion,
  type CreateIdentityBundleParameters,
  createIdentityBundle,
  type IdentityBundle,
  type IdentityBundleVerdict,
  serializeIdentityBundle,
  type VerifyIdentityBundlePolicy,
  verifyIdentityBundle,
} from './IdentityBundle.js'
export {
  type Evaluation,
  evaluateInstance,
  freshForSeconds,
  type InstanceFacts,
  preferInstance,
  type ScoreItem,
  scoreWeights,
  staleAfterSeconds,
  type TcbStatus,
} from './IdentityFunction.js'
export { type BytesLike, type Hex, InvalidHexError } from './internal/bytes.js'
export {
  type DerivedKey,
  type DeriveKeyParameters,
  deriveKey,
  deriveWallet,
  InvalidKeyLengthError,
  KeyWipedError,
  PrivateKey,
  type Provenance,
  type ProvenanceVerdict,
  toAccount,
  type VerifyProvenanceParameters,
  verifyProvenance,
  walletPath,
  walletPurpose,
} from './Keys.js'
export {
  decryptKeystore,
  type EncryptKeystoreOptions,
  encryptKeystore,
  KeystoreAddressError,
  KeystoreFormatError,
  type KeystoreJson,
  KeystorePasswordError,
  type Pbkdf2KdfParams,
  readKeystore,
  type ScryptKdfParams,
  type WriteKeystoreOptions,
  writeKeystore,
} from './Keystore.js'
export * as MeasuredSettings from './MeasuredSettings.js'
export * as Merkle from './Merkle.js'
export * as OsImage from './OsImage.js'
export { type VerifyOsImageParameters, type VerifyOsImageReturnType, verifyOsImage } from './OsImage.js'
export { quoteId } from './quoteId.js'
export {
  deriveSealingKey,
  type OpenSealedStateOptions,
  openSealedState,
  type SealedState,
  SealedStateClosedError,
  SealedStateCorruptError,
  sealingPath,
  sealingPurpose,
  WrongSealingKeyError,
} from './SealedState.js'
export * as Statement from './Statement.js'
export {
  attestationFromJson,
  attestationToJson,
  attestationVersion,
  InvalidAttestationError,
  type Reason,
  type SignAndAttestParameters,
  type SignedAttestation,
  type SignedAttestationJson,
  type SignedAttestationVerdict,
  signAndAttest,
  type VerifySignedAttestationParameters,
  verifySignedAttestation,
} from './signAndAttest.js'
export {
  defaultTimeout,
  GuestAgentError,
  InvalidResponseError,
  type RequestArgs,
  TimeoutError,
  type Transport,
  TransportError,
} from './transports/createTransport.js'
export { type FromEnvOptions, fromEnv, NoEndpointError, socketPaths } from './transports/fromEnv.js'
export { type HttpOptions, http } from './transports/http.js'
export { type UnixSocketOptions, unixSocket } from './transports/unixSocket.js'
export {
  type VerifyInstanceParameters,
  type VerifyInstanceReturnType,
  verifierNonceLength,
  verifyInstance,
} from './verifyInstance.js'
