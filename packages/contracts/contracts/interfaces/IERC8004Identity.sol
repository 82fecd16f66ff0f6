// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC8004Identity
/// @notice The two calls Regent's contracts make on an ERC-8004 IdentityRegistry (an ERC-721 whose
///         tokenId is the agentId). DESIGN.md §9. `isAuthorizedOrOwner` is the reference
///         implementation's helper; it reverts for an unknown agentId.
interface IERC8004Identity {
    /// @notice The owner of agent `agentId` (ERC-721 `ownerOf`).
    function ownerOf(uint256 agentId) external view returns (address);

    /// @notice True when `spender` is the owner of `agentId`, approved for it, or an operator of its owner.
    function isAuthorizedOrOwner(address spender, uint256 agentId) external view returns (bool);
}
