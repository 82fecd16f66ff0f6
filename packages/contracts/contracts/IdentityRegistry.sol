// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title ERC-8004 Identity Registry (non-upgradeable)
/// @notice Implements the Identity Registry of ERC-8004 "Trustless Agents"
///         (https://eips.ethereum.org/EIPS/eip-8004, text of 2026-01-25) with the selectors, events, revert
///         strings and behaviour of the reference contracts (erc-8004/erc-8004-contracts, getVersion() "2.0.0"),
///         deployed by constructor instead of behind a UUPS proxy.
///
///         Each agent is an ERC-721 token: agentId = tokenId (the first one is 0), agentURI = tokenURI. The owner
///         and the owner's ERC-721 operators (`setApprovalForAll`, per-token `approve`) manage the agent.
///         The reserved metadata key "agentWallet" holds the agent's payment address as 20 packed bytes; it
///         starts as the registering address, changes only through `setAgentWallet` (EIP-712 proof of control
///         signed by the new wallet, ECDSA or ERC-1271) and is cleared on every transfer.
contract IdentityRegistry is ERC721URIStorage, EIP712 {
    /// @notice One extra metadata entry for `register(string,(string,bytes)[])`.
    struct MetadataEntry {
        string metadataKey;
        bytes metadataValue;
    }

    /// @notice A new agent was minted to `owner`.
    event Registered(uint256 indexed agentId, string agentURI, address indexed owner);
    /// @notice A metadata entry changed; `indexedMetadataKey` is topic keccak256(metadataKey).
    event MetadataSet(uint256 indexed agentId, string indexed indexedMetadataKey, string metadataKey, bytes metadataValue);
    /// @notice The agentURI changed; `updatedBy` is the caller (owner or operator).
    event URIUpdated(uint256 indexed agentId, string newURI, address indexed updatedBy);

    /// @dev EIP-712 struct signed by the new wallet. `owner` is the current `ownerOf(agentId)`, not the caller.
    bytes32 private constant AGENT_WALLET_SET_TYPEHASH =
        keccak256("AgentWalletSet(uint256 agentId,address newWallet,address owner,uint256 deadline)");
    /// @dev A wallet signature may be valid for at most this long after the block that uses it.
    uint256 private constant MAX_DEADLINE_DELAY = 5 minutes;
    string private constant AGENT_WALLET_KEY = "agentWallet";
    bytes32 private constant AGENT_WALLET_KEY_HASH = keccak256(bytes(AGENT_WALLET_KEY));

    uint256 private _nextAgentId;
    mapping(uint256 agentId => mapping(string metadataKey => bytes metadataValue)) private _metadata;

    constructor() ERC721("AgentIdentity", "AGENT") EIP712("ERC8004IdentityRegistry", "1") {}

    // ---------------------------------------------------------------- registration

    /// @notice Registers an agent without an agentURI (set it later with `setAgentURI`).
    function register() external returns (uint256 agentId) {
        agentId = _mintAgent();
        emit Registered(agentId, "", msg.sender);
        _emitAgentWallet(agentId, msg.sender);
    }

    /// @notice Registers an agent whose registration file is at `agentURI`.
    function register(string calldata agentURI) external returns (uint256 agentId) {
        agentId = _mintAgent();
        _setTokenURI(agentId, agentURI);
        emit Registered(agentId, agentURI, msg.sender);
        _emitAgentWallet(agentId, msg.sender);
    }

    /// @notice Registers an agent with extra metadata entries. Reverts "reserved key" for an "agentWallet" entry.
    function register(string calldata agentURI, MetadataEntry[] calldata metadata) external returns (uint256 agentId) {
        agentId = _mintAgent();
        _setTokenURI(agentId, agentURI);
        emit Registered(agentId, agentURI, msg.sender);
        _emitAgentWallet(agentId, msg.sender);
        for (uint256 i; i < metadata.length; ++i) {
            _writeMetadata(agentId, metadata[i].metadataKey, metadata[i].metadataValue);
        }
    }

    /// @dev Log order (reference behaviour): Transfer, [MetadataUpdate, from _setTokenURI], Registered,
    ///      MetadataSet("agentWallet"), then one MetadataSet per extra entry. The wallet is stored before the
    ///      mint so that an `onERC721Received` hook already sees it.
    function _mintAgent() private returns (uint256 agentId) {
        agentId = _nextAgentId++;
        _metadata[agentId][AGENT_WALLET_KEY] = abi.encodePacked(msg.sender);
        _safeMint(msg.sender, agentId);
    }

    // ---------------------------------------------------------------- agentURI and metadata

    /// @notice Replaces the agentURI. Owner or operator only ("Not authorized").
    function setAgentURI(uint256 agentId, string calldata newURI) external {
        _requireAuthorized(agentId);
        _setTokenURI(agentId, newURI);
        emit URIUpdated(agentId, newURI, msg.sender);
    }

    /// @notice The stored value of `metadataKey`, or empty bytes when unset.
    function getMetadata(uint256 agentId, string calldata metadataKey) external view returns (bytes memory) {
        return _metadata[agentId][metadataKey];
    }

    /// @notice Sets one metadata entry. Owner or operator only ("Not authorized"); "agentWallet" is reserved.
    function setMetadata(uint256 agentId, string calldata metadataKey, bytes calldata metadataValue) external {
        _requireAuthorized(agentId);
        _writeMetadata(agentId, metadataKey, metadataValue);
    }

    /// @dev The reserved-key check compares keccak256 of the exact bytes: "AgentWallet" is an ordinary key.
    function _writeMetadata(uint256 agentId, string calldata metadataKey, bytes calldata metadataValue) private {
        require(keccak256(bytes(metadataKey)) != AGENT_WALLET_KEY_HASH, "reserved key");
        _metadata[agentId][metadataKey] = metadataValue;
        emit MetadataSet(agentId, metadataKey, metadataKey, metadataValue);
    }

    // ---------------------------------------------------------------- agentWallet

    /// @notice The agent's payment address; the zero address when unset or cleared by a transfer.
    function getAgentWallet(uint256 agentId) external view returns (address) {
        return address(bytes20(_metadata[agentId][AGENT_WALLET_KEY]));
    }

    /// @notice Points agentWallet at `newWallet`. Called by the owner or an operator; `signature` is the new
    ///         wallet's EIP-712 signature of AgentWalletSet(agentId, newWallet, ownerOf(agentId), deadline), as
    ///         an ECDSA signature or, failing that, accepted by `newWallet`'s ERC-1271 `isValidSignature`.
    /// @dev Checks in the reference order: "Not authorized", "bad wallet", "expired" (now > deadline),
    ///      "deadline too far" (deadline > now + 300 s), "invalid wallet sig". There is no nonce: inside the
    ///      deadline window the same signature can be used again (as in the reference contracts).
    function setAgentWallet(uint256 agentId, address newWallet, uint256 deadline, bytes calldata signature) external {
        address owner = _requireAuthorized(agentId);
        require(newWallet != address(0), "bad wallet");
        require(block.timestamp <= deadline, "expired");
        require(deadline <= block.timestamp + MAX_DEADLINE_DELAY, "deadline too far");

        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(AGENT_WALLET_SET_TYPEHASH, agentId, newWallet, owner, deadline)));
        // ECDSA first, so EOAs (also EIP-7702-delegated ones, which have code) are checked by their key.
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != newWallet) {
            require(SignatureChecker.isValidERC1271SignatureNow(newWallet, digest, signature), "invalid wallet sig");
        }

        _metadata[agentId][AGENT_WALLET_KEY] = abi.encodePacked(newWallet);
        _emitAgentWallet(agentId, newWallet);
    }

    /// @notice Clears agentWallet (stores empty bytes). Owner or operator only.
    function unsetAgentWallet(uint256 agentId) external {
        _requireAuthorized(agentId);
        _clearAgentWallet(agentId);
    }

    function _emitAgentWallet(uint256 agentId, address wallet) private {
        emit MetadataSet(agentId, AGENT_WALLET_KEY, AGENT_WALLET_KEY, abi.encodePacked(wallet));
    }

    function _clearAgentWallet(uint256 agentId) private {
        delete _metadata[agentId][AGENT_WALLET_KEY];
        emit MetadataSet(agentId, AGENT_WALLET_KEY, AGENT_WALLET_KEY, "");
    }

    /// @dev A transfer (not a mint) clears agentWallet before the ownership changes: the payment address
    ///      was proven for the previous owner and must be proven again by the new one.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        if (_ownerOf(tokenId) != address(0) && to != address(0)) _clearAgentWallet(tokenId);
        return super._update(to, tokenId, auth);
    }

    // ---------------------------------------------------------------- authorization

    /// @notice True when `spender` is the owner, an operator of the owner, or the approved address of `agentId`.
    /// @dev Reverts `ERC721NonexistentToken(agentId)` for an unknown id (the Reputation registry relies on it).
    function isAuthorizedOrOwner(address spender, uint256 agentId) external view returns (bool) {
        return _isAuthorized(ownerOf(agentId), spender, agentId);
    }

    /// @dev Returns the owner; reverts ERC721NonexistentToken for an unknown id, "Not authorized" otherwise.
    function _requireAuthorized(uint256 agentId) private view returns (address owner) {
        owner = ownerOf(agentId);
        require(_isAuthorized(owner, msg.sender, agentId), "Not authorized");
    }

    /// @notice Version of the ERC-8004 reference contracts whose interface this registry implements.
    function getVersion() external pure returns (string memory) {
        return "2.0.0";
    }
}
