// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title TestReentrantSigner — TEST ONLY, never deploy outside tests.
/// @notice A contract enrolled as an agent's canonical signer that, when the AgentTreasury pays it
///         ETH, tries to withdraw again from inside `receive` (a reentrancy attack). It records the
///         revert data of the inner call so a test can assert the guard stopped it.
interface ITreasuryWithdraw {
    function withdraw(uint256 agentId, uint64 epoch, address payable to, uint256 amount) external;
}

contract TestReentrantSigner {
    ITreasuryWithdraw private _treasury;
    uint256 private _agentId;
    uint64 private _epoch;
    uint256 private _amount;
    bool private _attacking;

    /// @notice Revert data of the re-entrant call (empty if it succeeded or never ran).
    bytes public innerRevert;
    /// @notice Whether the re-entrant call succeeded (it must not).
    bool public innerSucceeded;

    /// @notice Withdraws `amount` to this contract and re-enters once from `receive`.
    function attack(address treasury, uint256 agentId, uint64 epoch, uint256 amount) external {
        _treasury = ITreasuryWithdraw(treasury);
        (_agentId, _epoch, _amount, _attacking) = (agentId, epoch, amount, true);
        _treasury.withdraw(agentId, epoch, payable(address(this)), amount);
        _attacking = false;
    }

    receive() external payable {
        if (!_attacking) return;
        _attacking = false;
        try _treasury.withdraw(_agentId, _epoch, payable(address(this)), _amount) {
            innerSucceeded = true;
        } catch (bytes memory reason) {
            innerRevert = reason;
        }
    }
}
