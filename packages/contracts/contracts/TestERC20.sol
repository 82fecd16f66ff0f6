// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestERC20
/// @notice TEST ONLY — never deploy outside a devnet or a test. An ERC-20 that anyone can mint, with
///         an optional fee on transfer (burned from the amount sent) so that AgentTreasury's
///         "credit what was actually received" rule can be exercised. DESIGN.md §9.
contract TestERC20 is ERC20 {
    /// @notice Fee on every transfer between two non-zero addresses, in basis points (burned).
    uint16 public immutable feeBps;

    error FeeTooHigh(uint16 feeBps);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param feeBps_ Transfer fee in basis points (0 = a plain ERC-20; at most 10000).
    constructor(string memory name_, string memory symbol_, uint16 feeBps_) ERC20(name_, symbol_) {
        if (feeBps_ > 10_000) revert FeeTooHigh(feeBps_);
        feeBps = feeBps_;
    }

    /// @notice Mints `amount` to `to`; unrestricted because this is a test token.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) return super._update(from, to, value);
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
