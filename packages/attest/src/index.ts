// Quotes, TD/enclave reports, certification data, dstack event log, report data.
export * as CertificationData from './CertificationData.js'
export * as EnclaveReport from './EnclaveReport.js'
export * as EventLog from './EventLog.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export * as Quote from './Quote.js'
export * as ReportData from './ReportData.js'
export * as TdReport from './TdReport.js'
