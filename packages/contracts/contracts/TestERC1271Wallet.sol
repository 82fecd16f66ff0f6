// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title TEST ONLY: a minimal ERC-1271 smart-contract wallet
/// @notice Used by the IdentityRegistry tests to exercise the ERC-1271 branch of `setAgentWallet`. Never deploy it
///         for real funds: it has no way to move assets and exists only to answer `isValidSignature`.
///         It lives at the top level of contracts/ only because the build compiles top-level files.
/// @dev A signature is valid when it is an ECDSA signature of `hash` by `signer`, set at construction.
contract TestERC1271Wallet is IERC1271 {
    address public immutable signer;

    constructor(address signer_) {
        signer = signer_;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}
