// Quotes, TD/enclave reports, certification data, dstack event log, report data; DCAP PKI and collateral
// (CRLs, PCK certificate extensions, certificate chains, TCB info, QE identity, collateral, trusted roots);
// TCB level matching, quote verification (verifyQuote → Verdict) and relying-party policy.
export * as CertChain from './CertChain.js'
export * as CertificationData from './CertificationData.js'
export * as Collateral from './Collateral.js'
export * as Crl from './Crl.js'
export * as EnclaveReport from './EnclaveReport.js'
export * as EventLog from './EventLog.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export * as PckCertificate from './PckCertificate.js'
export * as Policy from './Policy.js'
export * as QeIdentity from './QeIdentity.js'
export * as Quote from './Quote.js'
export * as ReportData from './ReportData.js'
export { createTrustedRoot, intelSgxRootCa, intelSgxRootCaPem, type TrustedRoot } from './roots.js'
export * as TcbInfo from './TcbInfo.js'
export * as TcbLevel from './TcbLevel.js'
export * as TdReport from './TdReport.js'
export {
  type Options as VerifyOptions,
  type SgxMeasurements,
  type TdxMeasurements,
  type Verdict,
  verifyQuote,
  verifyQuoteSync,
} from './Verify.js'
