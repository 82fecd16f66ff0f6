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
///         Optionally a **lease** names which instance of the signer holds the agent (issue 19 /
///         docs/failover.md): every instance of an app shares the app key, so the lease names the
///         instance id; the holder renews it, and once it lapses a standby with the same key may
///         `claim` the agent (epoch + 1), which fences the old holder off.
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

    /// @notice Which instance holds the agent until when (issue 19 / docs/failover.md); one storage slot.
    ///         `period` 0 = no lease (the default): `claim` is refused and handovers leave it alone.
    struct Lease {
        address holder; // the instance id of the canonical instance that holds the lease
        uint40 expiresAt; // unix seconds; a standby may claim at or after this time
        uint32 period; // seconds a renewal (or a handover) extends the lease by from its block's timestamp
        bool renewed; // the holder renewed since it got the lease: it has served (a standby of the epoch before
        // may claim a lease its holder never renewed: the holder died before serving)
    }

    /// @notice Shortest lease period, in seconds (issue 19 / docs/failover.md).
    uint32 public constant MIN_LEASE_PERIOD = 2;
    /// @notice Longest lease period, in seconds (issue 19 / docs/failover.md).
    uint32 public constant MAX_LEASE_PERIOD = 1 days;

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
    mapping(uint256 agentId => Lease) private _leases;

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
    /// @notice The lease was set (`period` > 0, held by `holder` until `expiresAt`) or disabled (all 0). Issue 19.
    event LeaseSet(uint256 indexed agentId, uint64 indexed epoch, address holder, uint32 period, uint64 expiresAt);
    /// @notice `holder` renewed its lease until `expiresAt`. Issue 19 / docs/failover.md.
    event LeaseRenewed(uint256 indexed agentId, uint64 indexed epoch, address holder, uint64 expiresAt);
    /// @notice Instance `holder` claimed the agent at `epoch` after the lease of `previousHolder` lapsed. Issue 19.
    event Claimed(uint256 indexed agentId, uint64 indexed epoch, address indexed holder, address previousHolder, string host);

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
    error InvalidLeasePeriod(uint32 period);
    error LeaseDisabled(uint256 agentId);
    error NotLeaseHolder(address holder, address instanceId);
    error LeaseHeld(uint256 agentId, uint64 expiresAt, uint256 timestamp);
    error SameInstance(address instanceId);

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
    ///      An enabled lease moves to `next.instanceId`, renewed for its period (issue 19).
    function uplift(uint256 agentId, uint64 epoch, Instance calldata next) external {
        Agent storage agent = _requireSigner(agentId, epoch);
        if (next.signer != msg.sender) revert SignerMismatch(msg.sender, next.signer);
        _requireApproved(agent.appId, next.composeHash);
        emit Uplift(agentId, agent.canonical.host, next.quoteHash);
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
    ///      An enabled lease moves to `next.instanceId`, renewed for its period (issue 19).
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
        emit Uplift(agentId, agent.canonical.host, next.quoteHash);
        _handover(agentId, agent, next);
    }

    // ---------------------------------------------------------------------------------------------
    // Leases: operator-free failover between instances of one key (issue 19 / docs/failover.md)
    // ---------------------------------------------------------------------------------------------

    /// @notice Enables (or changes the period of) the agent's lease, held by the canonical instance, or
    ///         disables it with `period` 0. Issue 19 / docs/failover.md.
    /// @dev Caller must be the canonical signer of `epoch` = current (`NotEnrolled`, `StaleEpoch`,
    ///      `NotCanonicalSigner`); `period` 0 clears the lease (holder 0, expiresAt 0), otherwise
    ///      `MIN_LEASE_PERIOD` <= period <= `MAX_LEASE_PERIOD` (`InvalidLeasePeriod`), holder :=
    ///      canonical instance id, expiresAt := now + period. Emits `LeaseSet`.
    function setLease(uint256 agentId, uint64 epoch, uint32 period) external {
        Agent storage agent = _requireSigner(agentId, epoch);
        if (period == 0) {
            delete _leases[agentId];
            emit LeaseSet(agentId, epoch, address(0), 0, 0);
            return;
        }
        if (period < MIN_LEASE_PERIOD || period > MAX_LEASE_PERIOD) revert InvalidLeasePeriod(period);
        address holder = agent.canonical.instanceId;
        uint64 expiresAt = uint64(block.timestamp) + period;
        _leases[agentId] = Lease(holder, uint40(expiresAt), period, true);
        emit LeaseSet(agentId, epoch, holder, period, expiresAt);
    }

    /// @notice The holding instance extends its lease to now + period. Issue 19 / docs/failover.md.
    /// @dev Caller must be the canonical signer of `epoch` = current (`NotEnrolled`, `StaleEpoch`,
    ///      `NotCanonicalSigner`); the lease enabled (`LeaseDisabled`); `instanceId` its holder
    ///      (`NotLeaseHolder(holder, instanceId)`). A lapsed lease may still be renewed while nobody has
    ///      claimed it (the epoch is unchanged). Sets `renewed` (the holder serves). Reads the lease slot
    ///      once and writes it once (one SSTORE; a renewal runs every few seconds). Emits `LeaseRenewed`.
    function renewLease(uint256 agentId, uint64 epoch, address instanceId) external {
        _requireSigner(agentId, epoch);
        Lease memory lease = _leases[agentId];
        if (lease.period == 0) revert LeaseDisabled(agentId);
        if (instanceId != lease.holder) revert NotLeaseHolder(lease.holder, instanceId);
        uint64 expiresAt = uint64(block.timestamp) + lease.period;
        _leases[agentId] = Lease(lease.holder, uint40(expiresAt), lease.period, true);
        emit LeaseRenewed(agentId, epoch, instanceId, expiresAt);
    }

    /// @notice A standby instance of the same key takes the agent over once the lease has lapsed
    ///         (issue 19 / docs/failover.md). Not an uplift: no `Uplift` event.
    /// @dev Caller must be the canonical signer of `epoch` = current (`NotEnrolled`, `StaleEpoch`,
    ///      `NotCanonicalSigner`); the lease enabled (`LeaseDisabled`) and lapsed, block.timestamp >=
    ///      expiresAt (`LeaseHeld(agentId, expiresAt, timestamp)`); `next.signer` the caller
    ///      (`SignerMismatch`); `next.instanceId` neither the holder nor 0 (`SameInstance`);
    ///      `next.composeHash` approved and active (`UnapprovedMeasurement`). Then epoch := epoch + 1,
    ///      canonical := next, lease held by `next.instanceId` until now + period. Of two claims at one
    ///      epoch the first mined wins; the other reverts `StaleEpoch`. Emits `Claimed` and `CanonicalChanged`.
    function claim(uint256 agentId, uint64 epoch, Instance calldata next) external {
        Agent storage agent = _requireSigner(agentId, epoch);
        Lease memory lease = _leases[agentId];
        if (lease.period == 0) revert LeaseDisabled(agentId);
        if (block.timestamp < lease.expiresAt) revert LeaseHeld(agentId, lease.expiresAt, block.timestamp);
        if (next.signer != msg.sender) revert SignerMismatch(msg.sender, next.signer);
        if (next.instanceId == lease.holder || next.instanceId == address(0)) revert SameInstance(next.instanceId);
        _requireApproved(agent.appId, next.composeHash);
        emit Claimed(agentId, epoch + 1, next.instanceId, lease.holder, next.host);
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

    /// @notice The agent's lease: the holding instance id, when it lapses (unix seconds), its period in
    ///         seconds, and whether its holder renewed it since it got it (set by `setLease` and
    ///         `renewLease`, cleared by a handover); all 0 when the lease is disabled. Issue 19 / docs/failover.md.
    function leaseOf(uint256 agentId)
        external
        view
        returns (address holder, uint64 expiresAt, uint32 period, bool renewed)
    {
        Lease memory lease = _leases[agentId];
        return (lease.holder, lease.expiresAt, lease.period, lease.renewed);
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

    /// @dev The handover every path shares (uplift, rotate, claim): epoch + 1, canonical := next, and an
    ///      enabled lease moves to `next.instanceId` for a full period (issue 19). Callers emit their own
    ///      event (`Uplift`, `Claimed`) before it, as `CanonicalChanged` comes last.
    function _handover(uint256 agentId, Agent storage agent, Instance calldata next) private {
        uint64 epoch = agent.epoch + 1;
        agent.epoch = epoch;
        agent.canonical = next;
        uint32 period = _leases[agentId].period;
        if (period != 0) _leases[agentId] = Lease(next.instanceId, uint40(block.timestamp + period), period, false);
        _emitCanonical(agentId, epoch, next);
    }

    function _emitCanonical(uint256 agentId, uint64 epoch, Instance calldata instance) private {
        emit CanonicalChanged(
            agentId, epoch, instance.signer, instance.composeHash, instance.instanceId, instance.quoteHash, instance.host
        );
    }
}
