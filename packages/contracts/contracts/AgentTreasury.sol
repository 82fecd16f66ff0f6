// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IRegentSuccession} from "./interfaces/IRegentSuccession.sol";

/// @title AgentTreasury
/// @notice An agent's bond vault (DESIGN.md §9): anyone may deposit ETH or ERC-20 tokens for an
///         enrolled agent; only the agent's canonical signer of the current epoch (per
///         RegentSuccession) may withdraw. Balances are keyed by agentId, so they survive key
///         rotation and uplift unchanged, and a retired key or an instance fenced off by a newer
///         epoch can no longer move them.
/// @dev Token 0 denotes ETH. Token deposits credit the amount actually received (balance
///      difference), so fee-on-transfer tokens cannot inflate a balance. Rebasing tokens are not
///      supported: their balance can drift from what is credited here.
contract AgentTreasury is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice The succession registry that says who is canonical for an agent.
    IRegentSuccession public immutable succession;

    mapping(uint256 agentId => mapping(address token => uint256)) private _balances;

    event Deposited(uint256 indexed agentId, address indexed token, address indexed from, uint256 amount);
    event Withdrawn(uint256 indexed agentId, address indexed token, address indexed to, uint256 amount, uint64 epoch);

    error NotEnrolled(uint256 agentId);
    error ZeroAmount();
    error ZeroAddress();
    error NotCanonical(uint256 agentId, address caller, uint64 epoch);
    error InsufficientBalance(uint256 agentId, address token, uint256 balance, uint256 amount);
    error EthTransferFailed(address to, uint256 amount);

    /// @param succession_ The RegentSuccession contract.
    constructor(address succession_) {
        succession = IRegentSuccession(succession_);
    }

    /// @notice Deposits `msg.value` ETH for agent `agentId`. DESIGN.md §9.
    /// @dev Agent must be enrolled (`NotEnrolled`); `ZeroAmount` for 0.
    function deposit(uint256 agentId) external payable nonReentrant {
        _requireEnrolled(agentId);
        if (msg.value == 0) revert ZeroAmount();
        _balances[agentId][address(0)] += msg.value;
        emit Deposited(agentId, address(0), msg.sender, msg.value);
    }

    /// @notice Pulls `amount` of `token` from the caller (needs an allowance) for agent `agentId`. DESIGN.md §9.
    /// @dev Credits the balance actually received. Agent must be enrolled (`NotEnrolled`);
    ///      `ZeroAddress` for token 0 (use `deposit` for ETH); `ZeroAmount` when nothing arrives.
    function depositToken(uint256 agentId, address token, uint256 amount) external nonReentrant {
        _requireEnrolled(agentId);
        if (token == address(0)) revert ZeroAddress();
        IERC20 erc20 = IERC20(token);
        uint256 before = erc20.balanceOf(address(this));
        erc20.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = erc20.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroAmount();
        _balances[agentId][token] += received;
        emit Deposited(agentId, token, msg.sender, received);
    }

    /// @notice Sends `amount` ETH of agent `agentId`'s balance to `to`. DESIGN.md §9.
    /// @dev Caller must be the canonical signer at `epoch` = the current epoch (`NotCanonical`);
    ///      `ZeroAddress` for `to` = 0; `InsufficientBalance`; `EthTransferFailed` if `to` rejects.
    function withdraw(uint256 agentId, uint64 epoch, address payable to, uint256 amount) external nonReentrant {
        _debit(agentId, epoch, address(0), to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert EthTransferFailed(to, amount);
        emit Withdrawn(agentId, address(0), to, amount, epoch);
    }

    /// @notice Sends `amount` of `token` from agent `agentId`'s balance to `to`. DESIGN.md §9.
    /// @dev Caller must be the canonical signer at `epoch` = the current epoch (`NotCanonical`);
    ///      `ZeroAddress` for `token` or `to` = 0; `InsufficientBalance`.
    function withdrawToken(uint256 agentId, uint64 epoch, address token, address to, uint256 amount) external nonReentrant {
        if (token == address(0)) revert ZeroAddress();
        _debit(agentId, epoch, token, to, amount);
        IERC20(token).safeTransfer(to, amount);
        emit Withdrawn(agentId, token, to, amount, epoch);
    }

    /// @notice Agent `agentId`'s balance of `token` (0 = ETH) held here. DESIGN.md §9.
    function balanceOf(uint256 agentId, address token) external view returns (uint256) {
        return _balances[agentId][token];
    }

    function _requireEnrolled(uint256 agentId) private view {
        if (succession.epochOf(agentId) == 0) revert NotEnrolled(agentId);
    }

    function _debit(uint256 agentId, uint64 epoch, address token, address to, uint256 amount) private {
        // Fencing (DESIGN.md §10): only the signer of the epoch that is current now.
        if (epoch != succession.epochOf(agentId) || !succession.isCanonical(agentId, msg.sender, epoch)) {
            revert NotCanonical(agentId, msg.sender, epoch);
        }
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = _balances[agentId][token];
        if (amount > balance) revert InsufficientBalance(agentId, token, balance, amount);
        _balances[agentId][token] = balance - amount;
    }
}
