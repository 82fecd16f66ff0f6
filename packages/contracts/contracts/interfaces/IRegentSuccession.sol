// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IRegentSuccession
/// @notice The read side of RegentSuccession that AgentTreasury and off-chain verifiers rely on
///         (DESIGN.md §9, §10): the canonical signer of an agent, its fencing epoch and its lease
///         (issue 19 / docs/failover.md).
interface IRegentSuccession {
    /// @notice The agent's current epoch; 0 when the agent is not enrolled.
    function epochOf(uint256 agentId) external view returns (uint64);

    /// @notice True when `signer` is the agent's canonical signer and `epoch` is its current epoch.
    function isCanonical(uint256 agentId, address signer, uint64 epoch) external view returns (bool);

    /// @notice The instance id holding the agent's lease, when it lapses (unix seconds), its period
    ///         (seconds) and whether its holder renewed it since it got it; all 0 when the lease is disabled.
    function leaseOf(uint256 agentId) external view returns (address holder, uint64 expiresAt, uint32 period, bool renewed);
}
