// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IRegentAppBootAuth
/// @notice The boot-authorization query a KMS makes before releasing app keys (DESIGN.md §6). Same
///         struct layout and selector as dstack's `IAppAuth`, so its ERC-165 interface id is the same
///         (0x1e079198) and dstack's auth-eth webhook can query a RegentAppAuth unchanged.
interface IRegentAppBootAuth {
    /// @notice The facts a KMS has verified about a booting CVM (from its quote and RTMR3 event log).
    struct AppBootInfo {
        address appId;
        bytes32 composeHash;
        address instanceId;
        bytes32 deviceId;
        bytes32 mrAggregated;
        bytes32 mrSystem;
        bytes32 osImageHash;
        string tcbStatus;
        string[] advisoryIds;
    }

    /// @notice Whether a CVM with these boot facts may receive its app keys; `reason` is empty when allowed.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason);
}
