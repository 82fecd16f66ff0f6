// @regent-tee/sdk/failover — operator-free failover (docs/failover.md): the canonical's lease and self-fence, sealed
// replication of the write-ahead log to attested standbys with k acknowledgements, the standby's claim, and clients
// that follow the chain to the canonical instance.
export { type CanonicalClient, type CreateCanonicalClientParameters, createCanonicalClient } from './Client.js'
export { FailoverError } from './errors.js'
export { createFollower, type Follower, type FollowerParameters, type Following, parseHello, type ReplicatedState } from './Follower.js'
export { createLeaseKeeper, type LeaseKeeper, type LeaseKeeperParameters, type LeaseState } from './LeaseKeeper.js'
export { type Failover, type FailoverRole, type MountFailoverParameters, mountFailover } from './Mount.js'
export { createRecordBuffer, type RecordBuffer } from './RecordBuffer.js'
export { createReplicator, type Replicator, type ReplicatorParameters, type StandbyStatus } from './Replicator.js'
export { type StandbyVerdict, type VerifyStandbyParameters, verifyStandby } from './VerifyStandby.js'
export type { LogRecord } from './Wire.js'
export * as Wire from './Wire.js'
