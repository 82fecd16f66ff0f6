// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IRegentAppBootAuth} from "./IRegentAppBootAuth.sol";

/// @title IRegentAppAuth
/// @notice The read side of RegentAppAuth that other Regent contracts and off-chain tools rely on
///         (DESIGN.md §9): app registration and time-locked measurement approvals.
interface IRegentAppAuth is IRegentAppBootAuth {
    /// @notice True when `appId` has been registered.
    function isRegistered(address appId) external view returns (bool);

    /// @notice The current owner of `appId` (zero when not registered).
    function appOwner(address appId) external view returns (address);

    /// @notice True when `composeHash` is approved for `appId` and its timelock has elapsed.
    function isComposeHashApproved(address appId, bytes32 composeHash) external view returns (bool);

    /// @notice True when `osImageHash` is approved for `appId` and its timelock has elapsed.
    function isOsImageApproved(address appId, bytes32 osImageHash) external view returns (bool);

    /// @notice True when the KMS root key address `kmsRoot` is allowed for `appId` and its timelock has elapsed.
    function isKmsRootAllowed(address appId, address kmsRoot) external view returns (bool);

    /// @notice True when ERC-8004 agent `agentId` may enroll under `appId` (the app owner's consent).
    function mayEnroll(address appId, uint256 agentId) external view returns (bool);
}
