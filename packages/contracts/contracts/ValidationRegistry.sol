// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/// @title ERC-8004 Validation Registry (non-upgradeable)
/// @notice Implements the Validation Registry of ERC-8004 "Trustless Agents"
///         (https://eips.ethereum.org/EIPS/eip-8004, text of 2026-01-25) with the selectors, events, revert
///         strings and behaviour of the reference contracts (erc-8004/erc-8004-contracts, getVersion() "2.0.0"),
///         bound to its Identity Registry by constructor instead of `initialize`.
///
///         An agent's owner or operator asks a validator (any address, typically a contract that checks a TEE
///         quote or a proof) to validate a request identified by `requestHash` (keccak256 of the request
///         payload). Only that validator may answer, with a score 0..100; later answers overwrite earlier ones
///         (e.g. "soft" then "hard" finality through `tag`). The registry never checks hashes against URIs.
contract ValidationRegistry {
    /// @notice A validation was requested; the request payload is at `requestURI`.
    event ValidationRequest(address indexed validatorAddress, uint256 indexed agentId, string requestURI, bytes32 indexed requestHash);
    /// @notice The validator answered (or re-answered) a request.
    event ValidationResponse(
        address indexed validatorAddress,
        uint256 indexed agentId,
        bytes32 indexed requestHash,
        uint8 response,
        string responseURI,
        bytes32 responseHash,
        string tag
    );

    struct Validation {
        address validatorAddress;
        uint8 response;
        bool hasResponse;
        uint64 lastUpdate;
        uint256 agentId;
        bytes32 responseHash;
        string tag;
    }

    uint8 private constant MAX_RESPONSE = 100;

    IIdentityRegistry private immutable _identityRegistry;

    mapping(bytes32 requestHash => Validation) private _validations;
    mapping(uint256 agentId => bytes32[] requestHashes) private _agentValidations;
    mapping(address validator => bytes32[] requestHashes) private _validatorRequests;

    /// @param identityRegistry the ERC-8004 Identity Registry whose agents are validated ("bad identity" if zero).
    constructor(address identityRegistry) {
        require(identityRegistry != address(0), "bad identity");
        _identityRegistry = IIdentityRegistry(identityRegistry);
    }

    /// @notice The Identity Registry this registry was deployed for.
    function getIdentityRegistry() external view returns (address) {
        return address(_identityRegistry);
    }

    /// @notice Asks `validatorAddress` to validate `agentId`'s request `requestHash`. Owner or operator only.
    /// @dev Reverts "bad validator" (zero), "exists" (hash already used, by any agent), `ERC721NonexistentToken`
    ///      (unknown agent, from the Identity Registry), "Not authorized".
    function validationRequest(address validatorAddress, uint256 agentId, string calldata requestURI, bytes32 requestHash) external {
        require(validatorAddress != address(0), "bad validator");
        require(_validations[requestHash].validatorAddress == address(0), "exists");
        require(_identityRegistry.isAuthorizedOrOwner(msg.sender, agentId), "Not authorized");

        Validation storage v = _validations[requestHash];
        v.validatorAddress = validatorAddress;
        v.agentId = agentId;
        v.lastUpdate = uint64(block.timestamp);
        _agentValidations[agentId].push(requestHash);
        _validatorRequests[validatorAddress].push(requestHash);

        emit ValidationRequest(validatorAddress, agentId, requestURI, requestHash);
    }

    /// @notice The named validator answers request `requestHash` with `response` in 0..100 (latest wins).
    /// @dev Reverts "unknown" (no such request), "not validator" (caller is not the named validator), "resp>100".
    function validationResponse(bytes32 requestHash, uint8 response, string calldata responseURI, bytes32 responseHash, string calldata tag)
        external
    {
        Validation storage v = _validations[requestHash];
        require(v.validatorAddress != address(0), "unknown");
        require(msg.sender == v.validatorAddress, "not validator");
        require(response <= MAX_RESPONSE, "resp>100");

        v.response = response;
        v.hasResponse = true;
        v.lastUpdate = uint64(block.timestamp);
        v.responseHash = responseHash;
        v.tag = tag;

        emit ValidationResponse(msg.sender, v.agentId, requestHash, response, responseURI, responseHash, tag);
    }

    /// @notice The state of one request. Before any response: response 0, empty tag, lastUpdate = request time.
    /// @dev Reverts "unknown" for a hash that was never requested.
    function getValidationStatus(bytes32 requestHash)
        external
        view
        returns (address validatorAddress, uint256 agentId, uint8 response, bytes32 responseHash, string memory tag, uint256 lastUpdate)
    {
        Validation storage v = _validations[requestHash];
        require(v.validatorAddress != address(0), "unknown");
        return (v.validatorAddress, v.agentId, v.response, v.responseHash, v.tag, v.lastUpdate);
    }

    /// @notice Count and integer average (rounded down) of the answered requests of `agentId`, filtered by
    ///         validator (empty = all) and tag (empty = all). Unanswered requests are ignored; no match gives (0, 0).
    function getSummary(uint256 agentId, address[] calldata validatorAddresses, string calldata tag)
        external
        view
        returns (uint64 count, uint8 averageResponse)
    {
        bytes32[] storage hashes = _agentValidations[agentId];
        bytes32 tagHash = keccak256(bytes(tag));
        uint256 total;
        for (uint256 i; i < hashes.length; ++i) {
            Validation storage v = _validations[hashes[i]];
            if (!v.hasResponse) continue;
            if (bytes(tag).length > 0 && keccak256(bytes(v.tag)) != tagHash) continue;
            if (validatorAddresses.length > 0 && !_contains(validatorAddresses, v.validatorAddress)) continue;
            total += v.response;
            ++count;
        }
        if (count > 0) averageResponse = uint8(total / count);
    }

    /// @notice Every request hash of `agentId`, in request order.
    function getAgentValidations(uint256 agentId) external view returns (bytes32[] memory requestHashes) {
        return _agentValidations[agentId];
    }

    /// @notice Every request hash addressed to `validatorAddress`, in request order.
    function getValidatorRequests(address validatorAddress) external view returns (bytes32[] memory requestHashes) {
        return _validatorRequests[validatorAddress];
    }

    /// @notice Version of the ERC-8004 reference contracts whose interface this registry implements.
    function getVersion() external pure returns (string memory) {
        return "2.0.0";
    }

    function _contains(address[] calldata list, address a) private pure returns (bool) {
        for (uint256 i; i < list.length; ++i) if (list[i] == a) return true;
        return false;
    }
}
