// Simulated TDX hardware of the devnet: the devnet DCAP PKI, its signed collateral, the Quoting Enclave and TD reports.
export * as DevnetCollateral from './tdx/DevnetCollateral.js'
export * as DevnetPki from './tdx/DevnetPki.js'
export * as DevnetQe from './tdx/DevnetQe.js'
export * as DevnetTd from './tdx/DevnetTd.js'
