// @regent-tee/sdk/uplift — the self-uplift (DESIGN.md §10; docs/uplift.md, docs/sdk.md "Uplift in an agent"): what an
// agent mounts (mountUplift: the operator's signed admin API, the target role, the source controller, the write window
// and forwarding), the operator's client (createAdminClient) and the signed-request scheme, and the protocol
// underneath, step by step (0 decide … 5 handover).

export {
  type AdminClient,
  type AdminInfo,
  type AdminRefusal,
  type AdminResult,
  createAdminClient,
} from '../admin/AdminClient.js'
export * as AdminRequest from '../admin/AdminRequest.js'
export { type AdminRoutes, type AdminRoutesParameters, createAdminRoutes } from '../admin/AdminRoutes.js'
export {
  type CreateControllerParameters,
  createController,
  journaledAgentId,
  type SourceAgent,
  type UpliftController,
  type UpliftState,
  type UpliftStatus,
} from './Controller.js'
export * as Decide from './Decide.js'
export { type Reason, UpliftRefusedError } from './errors.js'
// The protocol underneath, one namespace per step module (DESIGN.md §10): 1 hello, verify target; 2 key import /
// rotate; 3 state transfer; 4 handshake; the wire messages; the journals; the source driver and the target role.
export * as Handshake from './Handshake.js'
export * as Hello from './Hello.js'
export * as Journal from './Journal.js'
export * as KeyImport from './KeyImport.js'
export * as KeyRotate from './KeyRotate.js'
export * as Messages from './Messages.js'
export { type AgentIdentity, type BecameAgent, type MountUpliftParameters, mountUplift, type Uplift } from './Mount.js'
export * as Source from './Source.js'
export * as StateTransfer from './StateTransfer.js'
export { phases, type SourceStep, sourceSteps, stepOf } from './Steps.js'
export * as Target from './Target.js'
export * as VerifyTarget from './VerifyTarget.js'
export { forward, type HeldWrite, idempotencyHeader, type Replay, replayEach } from './Window.js'
