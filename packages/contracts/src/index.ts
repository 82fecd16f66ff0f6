export {
  type Anvil,
  AnvilNotInstalledError,
  AnvilStartError,
  anvilBinary,
  anvilMnemonic,
  type StartAnvilOptions,
  startAnvil,
} from './anvil.js'
export { type DeployContractParameters, type Deployed, type DeployerClient, DeploymentFailedError, deployContract } from './deploy.js'
export {
  type DeployRegentDstackAppParameters,
  type DstackKmsDeployment,
  DstackRegistrationError,
  deployDstackKms,
  deployRegentDstackApp,
} from './dstack.js'
export { BaseError, type BaseErrorOptions } from './errors.js'
export * from './generated/index.js'
export { type DeployRegentOptions, deployRegent, type RegentDeployment, regentContractNames } from './regent.js'
export {
  type AgentWalletSet,
  agentWalletSetTypes,
  identityRegistryDomain,
  type SuccessionCertificate,
  successionCertificateTypes,
  successionDomain,
} from './typedData.js'
