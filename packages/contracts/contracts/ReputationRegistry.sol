// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/// @title ERC-8004 Reputation Registry (non-upgradeable)
/// @notice Implements the Reputation Registry of ERC-8004 "Trustless Agents"
///         (https://eips.ethereum.org/EIPS/eip-8004, text of 2026-01-25) with the selectors, events, revert
///         strings and behaviour of the reference contracts (erc-8004/erc-8004-contracts, getVersion() "2.0.0"),
///         bound to its Identity Registry by constructor instead of `initialize`.
///
///         Feedback is a signed fixed-point number (`int128 value`, `uint8 valueDecimals` in 0..18,
///         |value| <= 1e38) with two free tags. Anyone may give feedback except the agent's owner and its
///         operators. Each client's feedback for an agent is numbered from 1. `value`, `valueDecimals`, the
///         tags and the revoked flag are stored; `endpoint`, `feedbackURI` and `feedbackHash` are event-only.
contract ReputationRegistry {
    using SafeCast for int256;

    /// @notice New feedback; `indexedTag1` is topic keccak256(tag1).
    event NewFeedback(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint64 feedbackIndex,
        int128 value,
        uint8 valueDecimals,
        string indexed indexedTag1,
        string tag1,
        string tag2,
        string endpoint,
        string feedbackURI,
        bytes32 feedbackHash
    );
    /// @notice The client withdrew one of its feedbacks.
    event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex);
    /// @notice `responder` attached a response to a feedback.
    event ResponseAppended(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint64 feedbackIndex,
        address indexed responder,
        string responseURI,
        bytes32 responseHash
    );

    struct Feedback {
        int128 value;
        uint8 valueDecimals;
        bool isRevoked;
        string tag1;
        string tag2;
    }

    /// @dev Which feedback a read selects: tag filters from `_tagFilter`, and whether revoked entries count.
    struct Filter {
        bytes32 tag1;
        bytes32 tag2;
        bool includeRevoked;
    }

    /// @dev The parallel arrays returned by `readAllFeedback`.
    struct FeedbackList {
        address[] clients;
        uint64[] feedbackIndexes;
        int128[] values;
        uint8[] valueDecimals;
        string[] tag1s;
        string[] tag2s;
        bool[] revokedStatuses;
    }

    int128 private constant MAX_ABS_VALUE = 1e38;
    uint8 private constant MAX_DECIMALS = 18;

    IIdentityRegistry private immutable _identityRegistry;

    mapping(uint256 agentId => mapping(address client => mapping(uint64 index => Feedback))) private _feedback;
    mapping(uint256 agentId => mapping(address client => uint64 lastIndex)) private _lastIndex;
    mapping(uint256 agentId => address[] clients) private _clients;
    mapping(uint256 agentId => mapping(address client => mapping(uint64 index => address[] responders))) private _responders;
    mapping(uint256 agentId => mapping(address client => mapping(uint64 index => mapping(address responder => uint64 count))))
        private _responseCount;

    /// @param identityRegistry the ERC-8004 Identity Registry whose agents this registry rates ("bad identity" if zero).
    constructor(address identityRegistry) {
        require(identityRegistry != address(0), "bad identity");
        _identityRegistry = IIdentityRegistry(identityRegistry);
    }

    /// @notice The Identity Registry this registry was deployed for.
    function getIdentityRegistry() external view returns (address) {
        return address(_identityRegistry);
    }

    // ---------------------------------------------------------------- writes

    /// @notice Records feedback from `msg.sender` about `agentId` as feedback number `getLastIndex + 1`.
    /// @dev Reverts "too many decimals" (> 18), "value too large" (|value| > 1e38), `ERC721NonexistentToken`
    ///      (unknown agent, from the Identity Registry) and "Self-feedback not allowed" (owner or operator).
    function giveFeedback(
        uint256 agentId,
        int128 value,
        uint8 valueDecimals,
        string memory tag1,
        string memory tag2,
        string memory endpoint,
        string memory feedbackURI,
        bytes32 feedbackHash
    ) external {
        // `memory` (one stack slot per string, two for calldata) keeps this within the legacy pipeline's stack.
        // The ABI and the selector are the same either way.
        require(valueDecimals <= MAX_DECIMALS, "too many decimals");
        require(value >= -MAX_ABS_VALUE && value <= MAX_ABS_VALUE, "value too large");
        require(!_identityRegistry.isAuthorizedOrOwner(msg.sender, agentId), "Self-feedback not allowed");

        uint64 index = ++_lastIndex[agentId][msg.sender];
        if (index == 1) _clients[agentId].push(msg.sender);
        _feedback[agentId][msg.sender][index] = Feedback({value: value, valueDecimals: valueDecimals, isRevoked: false, tag1: tag1, tag2: tag2});

        emit NewFeedback(agentId, msg.sender, index, value, valueDecimals, tag1, tag1, tag2, endpoint, feedbackURI, feedbackHash);
    }

    /// @notice Marks the caller's own feedback `feedbackIndex` as revoked (once).
    /// @dev Reverts "index must be > 0", "index out of bounds", "Already revoked".
    function revokeFeedback(uint256 agentId, uint64 feedbackIndex) external {
        Feedback storage feedback = _existingFeedback(agentId, msg.sender, feedbackIndex);
        require(!feedback.isRevoked, "Already revoked");
        feedback.isRevoked = true;
        emit FeedbackRevoked(agentId, msg.sender, feedbackIndex);
    }

    /// @notice Attaches a response (e.g. a refund proof, a spam flag) by anyone to an existing feedback.
    /// @dev Reverts "index must be > 0", "Empty URI", "index out of bounds". Counted per responder.
    function appendResponse(uint256 agentId, address clientAddress, uint64 feedbackIndex, string calldata responseURI, bytes32 responseHash)
        external
    {
        require(feedbackIndex > 0, "index must be > 0");
        require(bytes(responseURI).length > 0, "Empty URI");
        require(feedbackIndex <= _lastIndex[agentId][clientAddress], "index out of bounds");

        if (_responseCount[agentId][clientAddress][feedbackIndex][msg.sender]++ == 0) {
            _responders[agentId][clientAddress][feedbackIndex].push(msg.sender);
        }
        emit ResponseAppended(agentId, clientAddress, feedbackIndex, msg.sender, responseURI, responseHash);
    }

    // ---------------------------------------------------------------- reads

    /// @notice One stored feedback (1-based index). Reverts "index must be > 0", "index out of bounds".
    function readFeedback(uint256 agentId, address clientAddress, uint64 feedbackIndex)
        external
        view
        returns (int128 value, uint8 valueDecimals, string memory tag1, string memory tag2, bool isRevoked)
    {
        Feedback storage f = _existingFeedback(agentId, clientAddress, feedbackIndex);
        return (f.value, f.valueDecimals, f.tag1, f.tag2, f.isRevoked);
    }

    /// @notice Count and average of the non-revoked feedback of `clientAddresses` (required, "clientAddresses
    ///         required"), filtered by tags (an empty tag matches everything).
    /// @dev Every value is scaled to 18 decimals, the sum is divided by the count (rounding toward zero), and the
    ///      average is returned in the most frequent `valueDecimals` among the matches (ties: the smallest),
    ///      again rounding toward zero. No match gives (0, 0, 0). An average that does not fit int128 (only
    ///      possible when huge low-precision values are averaged into a high-precision mode) reverts
    ///      `SafeCastOverflowedIntDowncast` instead of being truncated.
    function getSummary(uint256 agentId, address[] calldata clientAddresses, string calldata tag1, string calldata tag2)
        external
        view
        returns (uint64 count, int128 summaryValue, uint8 summaryValueDecimals)
    {
        require(clientAddresses.length > 0, "clientAddresses required");
        (int256 sumWad, uint64[MAX_DECIMALS + 1] memory decimalsFrequency) =
            _sumWad(agentId, clientAddresses, Filter(_tagFilter(tag1), _tagFilter(tag2), false));
        for (uint8 d; d <= MAX_DECIMALS; ++d) count += decimalsFrequency[d];
        if (count == 0) return (0, 0, 0);

        for (uint8 d = 1; d <= MAX_DECIMALS; ++d) {
            if (decimalsFrequency[d] > decimalsFrequency[summaryValueDecimals]) summaryValueDecimals = d;
        }
        int256 averageWad = sumWad / int256(uint256(count));
        summaryValue = (averageWad / int256(10 ** (MAX_DECIMALS - summaryValueDecimals))).toInt128();
    }

    /// @notice Every feedback of `clientAddresses` (empty = every client, in first-feedback order) matching the
    ///         tags, optionally including revoked ones, as parallel arrays.
    /// @dev Parameters are `memory` to fit the legacy pipeline's stack; the ABI is unchanged.
    function readAllFeedback(uint256 agentId, address[] memory clientAddresses, string memory tag1, string memory tag2, bool includeRevoked)
        external
        view
        returns (
            address[] memory clients,
            uint64[] memory feedbackIndexes,
            int128[] memory values,
            uint8[] memory valueDecimals,
            string[] memory tag1s,
            string[] memory tag2s,
            bool[] memory revokedStatuses
        )
    {
        Filter memory filter = Filter(_tagFilter(tag1), _tagFilter(tag2), includeRevoked);
        if (clientAddresses.length == 0) clientAddresses = _clients[agentId];
        FeedbackList memory list = _collect(agentId, clientAddresses, filter);
        return (list.clients, list.feedbackIndexes, list.values, list.valueDecimals, list.tag1s, list.tag2s, list.revokedStatuses);
    }

    /// @notice Number of responses. `clientAddress` 0 = all clients of the agent; `feedbackIndex` 0 = all of
    ///         that client's feedback; empty `responders` = all responders.
    function getResponseCount(uint256 agentId, address clientAddress, uint64 feedbackIndex, address[] calldata responders)
        external
        view
        returns (uint64 count)
    {
        if (clientAddress == address(0)) {
            address[] storage clients = _clients[agentId];
            for (uint256 i; i < clients.length; ++i) count += _responsesOfClient(agentId, clients[i], responders);
        } else if (feedbackIndex == 0) {
            count = _responsesOfClient(agentId, clientAddress, responders);
        } else {
            count = _responsesOf(agentId, clientAddress, feedbackIndex, responders);
        }
    }

    /// @notice Every address that gave feedback to `agentId`, in order of its first feedback.
    function getClients(uint256 agentId) external view returns (address[] memory) {
        return _clients[agentId];
    }

    /// @notice The index of `clientAddress`'s latest feedback for `agentId` (0 when none).
    function getLastIndex(uint256 agentId, address clientAddress) external view returns (uint64) {
        return _lastIndex[agentId][clientAddress];
    }

    /// @notice Version of the ERC-8004 reference contracts whose interface this registry implements.
    function getVersion() external pure returns (string memory) {
        return "2.0.0";
    }

    // ---------------------------------------------------------------- internals

    function _existingFeedback(uint256 agentId, address client, uint64 feedbackIndex) private view returns (Feedback storage) {
        require(feedbackIndex > 0, "index must be > 0");
        require(feedbackIndex <= _lastIndex[agentId][client], "index out of bounds");
        return _feedback[agentId][client][feedbackIndex];
    }

    /// @dev Sum (at 18 decimals) and decimals histogram of the feedback of `clients` selected by `filter`.
    function _sumWad(uint256 agentId, address[] calldata clients, Filter memory filter)
        private
        view
        returns (int256 sumWad, uint64[MAX_DECIMALS + 1] memory decimalsFrequency)
    {
        for (uint256 i; i < clients.length; ++i) {
            mapping(uint64 => Feedback) storage ofClient = _feedback[agentId][clients[i]];
            uint64 last = _lastIndex[agentId][clients[i]];
            for (uint64 j = 1; j <= last; ++j) {
                Feedback storage f = ofClient[j];
                if (!_selected(f, filter)) continue;
                sumWad += int256(f.value) * int256(10 ** (MAX_DECIMALS - f.valueDecimals));
                ++decimalsFrequency[f.valueDecimals];
            }
        }
    }

    /// @dev The feedback of `clients` selected by `filter`, client by client, each in index order.
    function _collect(uint256 agentId, address[] memory clients, Filter memory filter) private view returns (FeedbackList memory list) {
        uint256 total;
        for (uint256 i; i < clients.length; ++i) {
            uint64 last = _lastIndex[agentId][clients[i]];
            for (uint64 j = 1; j <= last; ++j) {
                if (_selected(_feedback[agentId][clients[i]][j], filter)) ++total;
            }
        }
        list.clients = new address[](total);
        list.feedbackIndexes = new uint64[](total);
        list.values = new int128[](total);
        list.valueDecimals = new uint8[](total);
        list.tag1s = new string[](total);
        list.tag2s = new string[](total);
        list.revokedStatuses = new bool[](total);

        uint256 n;
        for (uint256 i; i < clients.length; ++i) {
            uint64 last = _lastIndex[agentId][clients[i]];
            for (uint64 j = 1; j <= last; ++j) {
                Feedback storage f = _feedback[agentId][clients[i]][j];
                if (!_selected(f, filter)) continue;
                list.clients[n] = clients[i];
                list.feedbackIndexes[n] = j;
                list.values[n] = f.value;
                list.valueDecimals[n] = f.valueDecimals;
                list.tag1s[n] = f.tag1;
                list.tag2s[n] = f.tag2;
                list.revokedStatuses[n] = f.isRevoked;
                ++n;
            }
        }
    }

    /// @dev An empty tag matches everything (filter 0); otherwise the tag must be byte-equal (filter = its keccak256).
    function _tagFilter(string memory tag) private pure returns (bytes32) {
        return bytes(tag).length == 0 ? bytes32(0) : keccak256(bytes(tag));
    }

    function _selected(Feedback storage f, Filter memory filter) private view returns (bool) {
        return (filter.includeRevoked || !f.isRevoked) && (filter.tag1 == 0 || filter.tag1 == keccak256(bytes(f.tag1)))
            && (filter.tag2 == 0 || filter.tag2 == keccak256(bytes(f.tag2)));
    }

    function _responsesOfClient(uint256 agentId, address client, address[] calldata responders) private view returns (uint64 count) {
        uint64 last = _lastIndex[agentId][client];
        for (uint64 j = 1; j <= last; ++j) count += _responsesOf(agentId, client, j, responders);
    }

    function _responsesOf(uint256 agentId, address client, uint64 feedbackIndex, address[] calldata responders)
        private
        view
        returns (uint64 count)
    {
        mapping(address => uint64) storage counts = _responseCount[agentId][client][feedbackIndex];
        if (responders.length == 0) {
            address[] storage all = _responders[agentId][client][feedbackIndex];
            for (uint256 k; k < all.length; ++k) count += counts[all[k]];
        } else {
            for (uint256 k; k < responders.length; ++k) count += counts[responders[k]];
        }
    }
}
