// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The part of the ERC-8004 Identity Registry that the Reputation and Validation registries call.
/// @notice ERC-8004 "Trustless Agents" (https://eips.ethereum.org/EIPS/eip-8004), Identity Registry.
///         `isAuthorizedOrOwner` is a helper of the reference implementation (erc-8004/erc-8004-contracts,
///         getVersion() "2.0.0"); it is not in the ERC text.
interface IIdentityRegistry {
    /// @notice True when `spender` is the owner of `agentId`, an operator of the owner
    ///         (`isApprovedForAll`) or the token's approved address (`getApproved`).
    /// @dev Reverts `ERC721NonexistentToken(agentId)` for an id that was never registered.
    function isAuthorizedOrOwner(address spender, uint256 agentId) external view returns (bool);

    /// @notice The owner of `agentId` (ERC-721). Reverts `ERC721NonexistentToken` for an unknown id.
    function ownerOf(uint256 agentId) external view returns (address);
}
