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
export { type AssertCanonicalParameters, assertCanonical, NotCanonicalError } from './chain/assertCanonical.js'
export { type CommitStateParameters, type CommitStateReturnType, commitState, StaleSequenceError } from './chain/commitState.js'
export { type EnrollParameters, type EnrollReturnType, enroll } from './chain/enroll.js'
export {
  defaultMaxRange,
  type GetLogsBoundedParameters,
  getLogsBounded,
  InvalidRangeError,
  isRangeTooLarge,
  RangeTooLargeError,
} from './chain/getLogsBounded.js'
export {
  type Instance as SuccessionInstance,
  type ReadCanonicalParameters,
  type ReadCanonicalReturnType,
  readCanonical,
} from './chain/readCanonical.js'
export {
  agentRegistryOf,
  type FindAgentParameters,
  type FindAgentReturnType,
  findAgent,
  fromAgentUri,
  InvalidAgentUriError,
  type RegisterAgentParameters,
  type RegisterAgentReturnType,
  type Registration,
  type RegistrationFile,
  registerAgent,
  registrationType,
  type Service,
  toAgentUri,
  toRegistrationFile,
} from './chain/registerAgent.js'
export {
  NoAccountError,
  type SignSuccessionCertificateParameters,
  type SignSuccessionCertificateReturnType,
  signSuccessionCertificate,
} from './chain/signSuccessionCertificate.js'
export {
  ContractRevertedError,
  type RegentContracts,
  regentAbi,
  type SendOptions,
  type Sent,
  sendDefaults,
  TransactionRevertedError,
  type WriteClient,
} from './chain/transact.js'
export { ContractCodeError, matchesRuntimeCode, type RuntimeCode, verifyRegentCode } from './chain/verifyRegentCode.js'
export { type WithdrawParameters, type WithdrawReturnType, withdraw } from './chain/withdraw.js'
export { type BaseTeeClient, type CreateTeeClientOptions, createTeeClient, type TeeClient } from './createTeeClient.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export {
  body as identityBundleBody,
  bundleVersion,
  type CreateIdentityBundleParameters,
  createIdentityBundle,
  type IdentityBundle,
  type IdentityBundleVerdict,
  serialize as serializeIdentityBundle,
  signingHash as identityBundleSigningHash,
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
  staleAfterSeconds,
  type TcbStatus,
  weights as scoreWeights,
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
  fileMagic as sealedFileMagic,
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
// The self-uplift protocol core (DESIGN.md §10; docs/uplift.md): step 0 decision, wire messages and transcript,
// key continuity (import / rotate), state transfer, self-continuity handshake. The roles (uplift, createTarget) and their journal follow below.
export * as Decide from './uplift/Decide.js'
export { type Reason as UpliftReason, UpliftRefusedError } from './uplift/errors.js'
export {
  type AnswerChallengeParameters,
  answerChallenge,
  type CreateChallengeParameters,
  createChallenge,
  defaultLeafCount as handshakeDefaultLeafCount,
  type HandshakeVerdict,
  purpose as handshakePurpose,
  type VerifyHandshakeParameters,
  verifyHandshake,
} from './uplift/Handshake.js'
export {
  type CreateSourceHelloParameters,
  type CreateTargetHelloParameters,
  type CreateTargetHelloReturnType,
  checkSourceHello,
  createSourceHello,
  createTargetHello,
  defaultHelloTtlSeconds,
  signSourceHello,
  sourceHelloDomain,
  sourceHelloTypes,
} from './uplift/Hello.js'
// The self-uplift orchestration (docs/uplift.md "Journal", "HTTP roles"): per-side journals, the source driver and
// the target's JSON API.
export {
  type Journal as UpliftJournal,
  JournalRoleError,
  JournalSecretError,
  type OpenParameters as OpenUpliftJournalParameters,
  open as openUpliftJournal,
} from './uplift/Journal.js'
export { keyEnvelopeLabel, type OpenKeyParameters, openKey, type SealKeyParameters, sealKey } from './uplift/KeyImport.js'
export {
  certificateFromJson,
  certificateToJson,
  type OfferSuccessionParameters,
  offerSuccession,
  type VerifySuccessionParameters,
  verifySuccession,
} from './uplift/KeyRotate.js'
export * as UpliftMessages from './uplift/Messages.js'
export { sourceSteps as upliftSourceSteps, type UpliftParameters, type UpliftReturnType, uplift } from './uplift/Source.js'
export {
  type CheckOfferParameters as CheckStateOfferParameters,
  checkOffer as checkStateOffer,
  type OfferStateParameters,
  type OfferStateReturnType,
  type OpenStateParameters,
  type OpenStateReturnType,
  offerState,
  openState,
  sealState,
  stateEnvelopeLabel,
  toTypedData as upliftStateTypedData,
  types as upliftStateTypes,
} from './uplift/StateTransfer.js'
export {
  basePath as upliftBasePath,
  type CreateTargetParameters,
  createTarget,
  type Target as UpliftTarget,
  type TargetStatus as UpliftTargetStatus,
} from './uplift/Target.js'
export {
  type AttestedTarget,
  assertTarget,
  type TargetVerdict,
  type VerifyTargetParameters,
  verifyTarget,
} from './uplift/VerifyTarget.js'
export {
  nonceLength as verifierNonceLength,
  type VerifyInstanceParameters,
  type VerifyInstanceReturnType,
  verifyInstance,
} from './verifyInstance.js'
