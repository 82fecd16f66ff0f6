// @regent-tee/sdk/chain — the agent's on-chain actions and reads (DESIGN.md §5, §7; docs/sdk.md "On-chain actions
// and fencing"): enrollment, ERC-8004 registration, state commits, the canonical record, succession certificates,
// withdrawals, bounded log scans, the check that the contracts are Regent's, and leases for failover (issue 19).
export { type AssertCanonicalParameters, assertCanonical, NotCanonicalError } from './assertCanonical.js'
export { type CommitStateParameters, type CommitStateReturnType, commitState, StaleSequenceError } from './commitState.js'
export { type EnrollParameters, type EnrollReturnType, enroll } from './enroll.js'
export {
  defaultMaxRange,
  type GetLogsBoundedParameters,
  getLogsBounded,
  InvalidRangeError,
  isRangeTooLarge,
  RangeTooLargeError,
} from './getLogsBounded.js'
export {
  type ClaimCanonicalParameters,
  type ClaimCanonicalReturnType,
  claimCanonical,
  LeaseHeldError,
  LeaseLostError,
  type ReadLeaseParameters,
  type ReadLeaseReturnType,
  type RenewLeaseParameters,
  type RenewLeaseReturnType,
  readLease,
  renewLease,
  type SetLeaseParameters,
  type SetLeaseReturnType,
  setLease,
} from './lease.js'
export { type PointRegistrationParameters, type PointRegistrationReturnType, pointRegistration } from './pointRegistration.js'
export {
  type ReadCanonicalParameters,
  type ReadCanonicalReturnType,
  readCanonical,
  type SuccessionInstance,
} from './readCanonical.js'
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
} from './registerAgent.js'
export {
  NoAccountError,
  type SignSuccessionCertificateParameters,
  type SignSuccessionCertificateReturnType,
  signSuccessionCertificate,
} from './signSuccessionCertificate.js'
export {
  ContractRevertedError,
  type RegentContracts,
  regentAbi,
  type SendOptions,
  type Sent,
  sendDefaults,
  TransactionReplacedError,
  TransactionRevertedError,
  type WriteClient,
} from './transact.js'
export { ContractCodeError, matchesRuntimeCode, type RuntimeCode, verifyRegentCode } from './verifyRegentCode.js'
export { type WithdrawParameters, type WithdrawReturnType, withdraw } from './withdraw.js'
