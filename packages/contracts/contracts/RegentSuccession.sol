// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";
import {IRegentAppAuth} from "./interfaces/IRegentAppAuth.sol";
import {IRegentSuccession} from "./interfaces/IRegentSuccession.sol";

/// @title RegentSuccession
/// @notice Which instance is an ERC-8004 agent right now (DESIGN.md §9, §10): its canonical
///         instance (signer key, compose hash, instance id, quote hash, host), a strictly increasing
///         epoch used as a fencing token, and the latest committed state root with its sequence
///         number (anti-rollback). Handover is either an `uplift` by the current signer (same key,
///         DESIGN.md §10 step 2A) or a `rotate` with an EIP-712 succession certificate signed by the
///         old key (step 2B). Only the canonical signer of the current epoch can commit state or
///         hand over; there is no owner and no override, so no operator can seize an agent.
/// @dev Measurements are checked against RegentAppAuth for the app the agent enrolled with.
contract RegentSuccession is IRegentSuccession, EIP712 {
    /// @notice One running instance of an agent.
    struct Instance {
        address signer; // the agent key K_agent this instance signs with
        bytes32 composeHash; // dstack compose hash the instance's quote reports
        address instanceId; // dstack instance id
        bytes32 quoteHash; // keccak256 of the instance's attestation quote
        string host; // where the instance is reachable (URL or host label)
    }

    /// @notice EIP-712 message by which `oldKey` hands agent `agentId` to `newKey` at `nextEpoch`.
    struct SuccessionCertificate {
        uint256 agentId;
        address oldKey;
        address newKey;
        bytes32 newComposeHash;
        bytes32 quoteHash;
        uint64 nextEpoch;
        uint256 deadline;
    }

    struct Agent {
        Instance canonical;
        address appId;
        uint64 epoch; // 0 = not enrolled
        uint64 stateSeq;
        bytes32 stateRoot;
    }

    bytes32 public constant SUCCESSION_CERTIFICATE_TYPEHASH = keccak256(
        "SuccessionCertificate(uint256 agentId,address oldKey,address newKey,bytes32 newComposeHash,bytes32 quoteHash,uint64 nextEpoch,uint256 deadline)"
    );

    /// @notice The ERC-8004 identity registry whose agentIds this contract tracks.
    IIdentityRegistry public immutable identityRegistry;
    /// @notice The app authorization contract that approves compose hashes.
    IRegentAppAuth public immutable appAuth;

    mapping(uint256 agentId => Agent) private _agents;
    mapping(uint256 agentId => mapping(address key => bool)) private _retired;
    mapping(bytes32 digest => bool) private _usedCertificates;

    event AgentEnrolled(uint256 indexed agentId, address indexed appId, address indexed signer);
    event CanonicalChanged(
        uint256 indexed agentId,
        uint64 indexed epoch,
        address indexed signer,
        bytes32 composeHash,
        address instanceId,
        bytes32 quoteHash,
        string host
    );
    event StateCommitted(uint256 indexed agentId, uint64 indexed epoch, uint64 seq, bytes32 stateRoot);
    /// @notice The agent moved from `oldHost` to the instance whose attestation quote hash is `newRA`. DESIGN.md §9.
    event Uplift(uint256 indexed agentId, string oldHost, bytes32 newRA);
    event SuccessionRecorded(uint256 indexed agentId, address indexed oldKey, address indexed newKey, uint64 nextEpoch);

    error NotAgentOperator(uint256 agentId, address caller);
    error AppNotRegistered(address appId);
    error EnrollmentNotConsented(address appId, uint256 agentId);
    error UnapprovedMeasurement(address appId, bytes32 composeHash);
    error AlreadyEnrolled(uint256 agentId);
    error NotEnrolled(uint256 agentId);
    error ZeroSigner();
    error StaleEpoch(uint64 expected, uint64 got);
    error NotCanonicalSigner(uint256 agentId, address caller);
    error ZeroStateRoot();
    error StateRollback(uint64 lastSeq, uint64 seq);
    error SignerMismatch(address expected, address got);
    error CertificateAgentMismatch(uint256 expected, uint256 got);
    error CertificateReplayed(bytes32 digest);
    error StaleCertificate(uint64 expectedNextEpoch, uint64 got);
    error CertificateExpired(uint256 deadline, uint256 timestamp);
    error OldKeyNotCanonical(address canonical, address oldKey);
    error CertificateMismatch();
    error InvalidNewKey(address newKey);
    error KeyRetired(uint256 agentId, address key);
    error InvalidSignature();

    /// @param identityRegistry_ The ERC-8004 IdentityRegistry (agent ownership/authorization).
    /// @param appAuth_ The RegentAppAuth that approves compose hashes.
    constructor(address identityRegistry_, address appAuth_) EIP712("RegentSuccession", "1") {
        identityRegistry = IIdentityRegistry(identityRegistry_);
        appAuth = IRegentAppAuth(appAuth_);
    }

    /// @notice Enrolls ERC-8004 agent `agentId`, running as app `appId`, with its first canonical instance. DESIGN.md §9, §10.
    /// @dev Caller must be authorized for the agent on the identity registry (`NotAgentOperator`);
    ///      the app registered (`AppNotRegistered`), its owner consenting to this agent or to any
    ///      (`RegentAppAuth.mayEnroll`, else `EnrollmentNotConsented`), and `first.composeHash` approved
    ///      and active (`UnapprovedMeasurement`); not enrolled yet (`AlreadyEnrolled`); `first.signer` != 0
    ///      (`ZeroSigner`). Sets epoch 1.
    function enroll(uint256 agentId, address appId, Instance calldata first) external {
        if (!identityRegistry.isAuthorizedOrOwner(msg.sender, agentId)) revert NotAgentOperator(agentId, msg.sender);
        Agent storage agent = _agents[agentId];
        if (agent.epoch != 0) revert AlreadyEnrolled(agentId);
        if (!appAuth.isRegistered(appId)) revert AppNotRegistered(appId);
        if (!appAuth.mayEnroll(appId, agentId)) revert EnrollmentNotConsented(appId, agentId);
        if (first.signer == address(0)) revert ZeroSigner();
        _requireApproved(appId, first.composeHash);
        agent.appId = appId;
        agent.epoch = 1;
        agent.canonical = first;
        emit AgentEnrolled(agentId, appId, first.signer);
        _emitCanonical(agentId, 1, first);
    }

    /// @notice Commits the agent's latest state root with a strictly increasing sequence number. DESIGN.md §7, §10 step 3.
    /// @dev Caller must be the canonical signer (`NotCanonicalSigner`) of the current epoch
    ///      (`StaleEpoch(expected, got)`); `stateRoot` != 0 (`ZeroStateRoot`); `seq` > last
    ///      (`StateRollback(lastSeq, seq)`).
    function commitState(uint256 agentId, uint64 epoch, bytes32 stateRoot, uint64 seq) external {
        Agent storage agent = _requireSigner(agentId, epoch);
        if (stateRoot == bytes32(0)) revert ZeroStateRoot();
        if (seq <= agent.stateSeq) revert StateRollback(agent.stateSeq, seq);
        agent.stateRoot = stateRoot;
        agent.stateSeq = seq;
        emit StateCommitted(agentId, epoch, seq, stateRoot);
    }

    /// @notice Same-key handover to a new instance (key import, DESIGN.md §10 step 2A and step 5).
    /// @dev Caller must be the canonical signer of `epoch` = current (`NotCanonicalSigner`, `StaleEpoch`);
    ///      `next.signer` must be the caller (`SignerMismatch`; a new key needs `rotate`);
    ///      `next.composeHash` approved and active for the agent's app (`UnapprovedMeasurement`).
    ///      Epoch := epoch + 1. Emits `Uplift(agentId, oldHost, next.quoteHash)` and `CanonicalChanged`.
    function uplift(uint256 agentId, uint64 epoch, Instance calldata next) external {
        Agent storage agent = _requireSigner(agentId, epoch);
        if (next.signer != msg.sender) revert SignerMismatch(msg.sender, next.signer);
        _requireApproved(agent.appId, next.composeHash);
        _handover(agentId, agent, next);
    }

    /// @notice Key rotation by succession certificate (DESIGN.md §10 step 2B): `cert.oldKey`, the
    ///         current canonical signer, hands the agent to `cert.newKey`. Anyone may submit it.
    /// @dev Checks, in order: enrolled (`NotEnrolled`); `cert.agentId == agentId`
    ///      (`CertificateAgentMismatch`); certificate not used before (`CertificateReplayed`);
    ///      `cert.nextEpoch == epoch + 1` (`StaleCertificate`); not past `cert.deadline`
    ///      (`CertificateExpired`); `cert.oldKey` is the canonical signer (`OldKeyNotCanonical`);
    ///      `next` matches the certificate's newKey, newComposeHash and quoteHash (`CertificateMismatch`);
    ///      newKey != 0 and != oldKey (`InvalidNewKey`) and not a retired key (`KeyRetired`);
    ///      new compose hash approved and active (`UnapprovedMeasurement`); `signature` by oldKey,
    ///      ECDSA or ERC-1271 (`InvalidSignature`). Then oldKey is retired and epoch := nextEpoch.
    function rotate(uint256 agentId, SuccessionCertificate calldata cert, bytes calldata signature, Instance calldata next)
        external
    {
        Agent storage agent = _agents[agentId];
        uint64 epoch = agent.epoch;
        if (epoch == 0) revert NotEnrolled(agentId);
        if (cert.agentId != agentId) revert CertificateAgentMismatch(agentId, cert.agentId);
        bytes32 digest = certificateDigest(cert);
        if (_usedCertificates[digest]) revert CertificateReplayed(digest);
        if (cert.nextEpoch != epoch + 1) revert StaleCertificate(epoch + 1, cert.nextEpoch);
        if (block.timestamp > cert.deadline) revert CertificateExpired(cert.deadline, block.timestamp);
        address oldKey = agent.canonical.signer;
        if (cert.oldKey != oldKey) revert OldKeyNotCanonical(oldKey, cert.oldKey);
        if (cert.newKey != next.signer || cert.newComposeHash != next.composeHash || cert.quoteHash != next.quoteHash) {
            revert CertificateMismatch();
        }
        if (cert.newKey == address(0) || cert.newKey == oldKey) revert InvalidNewKey(cert.newKey);
        if (_retired[agentId][cert.newKey]) revert KeyRetired(agentId, cert.newKey);
        _requireApproved(agent.appId, next.composeHash);
        if (!SignatureChecker.isValidSignatureNow(oldKey, digest, signature)) revert InvalidSignature();

        _usedCertificates[digest] = true;
        _retired[agentId][oldKey] = true;
        emit SuccessionRecorded(agentId, oldKey, cert.newKey, cert.nextEpoch);
        _handover(agentId, agent, next);
    }

    // ---------------------------------------------------------------------------------------------
    // Views (DESIGN.md §7 identity function, §9)
    // ---------------------------------------------------------------------------------------------

    /// @notice The agent's canonical instance and current epoch (epoch 0 = not enrolled). DESIGN.md §9.
    function canonicalOf(uint256 agentId) external view returns (Instance memory instance, uint64 epoch) {
        Agent storage agent = _agents[agentId];
        return (agent.canonical, agent.epoch);
    }

    /// @notice The agent's current epoch (fencing token); 0 when not enrolled. DESIGN.md §9, §10.
    function epochOf(uint256 agentId) external view returns (uint64) {
        return _agents[agentId].epoch;
    }

    /// @notice The app id the agent enrolled with; 0 when not enrolled. DESIGN.md §9.
    function appOf(uint256 agentId) external view returns (address) {
        return _agents[agentId].appId;
    }

    /// @notice The latest committed state root and its sequence number (0, 0 before any commit). DESIGN.md §7.
    function stateOf(uint256 agentId) external view returns (bytes32 root, uint64 seq) {
        Agent storage agent = _agents[agentId];
        return (agent.stateRoot, agent.stateSeq);
    }

    /// @notice True when `signer` is the agent's canonical signer and `epoch` its current epoch. DESIGN.md §7 (d), §9.
    function isCanonical(uint256 agentId, address signer, uint64 epoch) external view returns (bool) {
        Agent storage agent = _agents[agentId];
        return epoch != 0 && agent.epoch == epoch && agent.canonical.signer == signer;
    }

    /// @notice True when `key` was the agent's signer and was retired by a rotation. DESIGN.md §10 step 2B.
    function isRetired(uint256 agentId, address key) external view returns (bool) {
        return _retired[agentId][key];
    }

    /// @notice True when a certificate with this EIP-712 digest has been used. DESIGN.md §10 step 2B.
    function isCertificateUsed(bytes32 digest) external view returns (bool) {
        return _usedCertificates[digest];
    }

    /// @notice The EIP-712 digest `cert.oldKey` signs (domain "RegentSuccession", version "1"). DESIGN.md §9.
    function certificateDigest(SuccessionCertificate calldata cert) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    SUCCESSION_CERTIFICATE_TYPEHASH,
                    cert.agentId,
                    cert.oldKey,
                    cert.newKey,
                    cert.newComposeHash,
                    cert.quoteHash,
                    cert.nextEpoch,
                    cert.deadline
                )
            )
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    function _requireSigner(uint256 agentId, uint64 epoch) private view returns (Agent storage agent) {
        agent = _agents[agentId];
        if (agent.epoch == 0) revert NotEnrolled(agentId);
        if (epoch != agent.epoch) revert StaleEpoch(agent.epoch, epoch);
        if (msg.sender != agent.canonical.signer) revert NotCanonicalSigner(agentId, msg.sender);
    }

    function _requireApproved(address appId, bytes32 composeHash) private view {
        if (!appAuth.isComposeHashApproved(appId, composeHash)) revert UnapprovedMeasurement(appId, composeHash);
    }

    function _handover(uint256 agentId, Agent storage agent, Instance calldata next) private {
        string memory oldHost = agent.canonical.host;
        uint64 epoch = agent.epoch + 1;
        agent.epoch = epoch;
        agent.canonical = next;
        emit Uplift(agentId, oldHost, next.quoteHash);
        _emitCanonical(agentId, epoch, next);
    }

    function _emitCanonical(uint256 agentId, uint64 epoch, Instance calldata instance) private {
        emit CanonicalChanged(
            agentId, epoch, instance.signer, instance.composeHash, instance.instanceId, instance.quoteHash, instance.host
        );
    }
}
