// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IRegentAppAuth} from "./interfaces/IRegentAppAuth.sol";
import {IRegentAppBootAuth} from "./interfaces/IRegentAppBootAuth.sol";

/// @title RegentAppAuth
/// @notice On-chain app authorization for Regent TEE (DESIGN.md §9, used by the KMS in §6). Per app:
///         an owner, approved compose hashes, approved OS images and allowed KMS roots. Adding any of
///         them takes effect only after the app's timelock (the exit window for the agent's users);
///         removing is immediate and also cancels a pending addition. Globally, the governance owner
///         approves the KMS nodes' own measurements under a fixed `kmsTimelock`.
///         An OS image is approved together with its expected measurements (DESIGN.md §14): for each VM
///         shape, MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 as dstack-mr computes them from the image, recorded by
///         their dstack `mr_system` (SHA-256 of the four registers ‖ 32 zero bytes). `isAppAllowed`
///         accepts a boot only when its `mrSystem` is a measurement of its `osImageHash`, so the image
///         a CVM claims is never taken on its word. The KMS nodes' own OS images live in the same
///         tables under the app id 0 (`KMS_IMAGES`).
/// @dev Modelled on dstack's DstackKms/DstackApp (`kms/auth-eth/contracts/`): `isAppAllowed` has the
///      same struct, selector and reason strings as dstack's `IAppAuth`, so dstack's KMS auth webhook
///      can query it. Unlike dstack, an app id is derived from its owner and a salt (no proxy per app)
///      and every addition is time-locked. An approval is stored as its activation time: 0 = absent,
///      active once `block.timestamp >= activatesAt`.
contract RegentAppAuth is IRegentAppAuth, Ownable2Step, ERC165 {
    /// @notice Upper bound of any timelock, so that `block.timestamp + timelock` never overflows uint64.
    uint64 public constant MAX_TIMELOCK = 365 days;

    /// @notice Delay before a KMS measurement or KMS OS image added by governance becomes active.
    uint64 public immutable kmsTimelock;

    struct App {
        address owner;
        uint64 timelock;
        bool requireTcbUpToDate;
        bool openEnrollment; // any agent may enroll in RegentSuccession under this app (else per-agent consent)
        address pendingOwner;
        uint64 pendingTimelock;
        uint64 pendingTimelockAt; // 0 = no pending lowering
    }

    mapping(address appId => App) private _apps;
    mapping(address appId => mapping(bytes32 composeHash => uint64 activatesAt)) private _composeHashes;
    mapping(address appId => mapping(bytes32 osImageHash => uint64 activatesAt)) private _osImages;
    mapping(address appId => mapping(bytes32 kmsRoot => uint64 activatesAt)) private _kmsRoots;
    mapping(bytes32 mrAggregated => uint64 activatesAt) private _kmsMeasurements;
    mapping(address appId => mapping(uint256 agentId => bool)) private _enrollmentConsent;

    /// @notice The app id under which governance's KMS OS images and their measurements are recorded.
    address public constant KMS_IMAGES = address(0);
    /// @notice Bytes of one OS image measurement: MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2, 48 bytes each.
    uint256 public constant MEASUREMENT_LENGTH = 192;
    /// @notice Most measurements (VM shapes) one OS image may have.
    uint256 public constant MAX_IMAGE_MEASUREMENTS = 16;

    struct ImageMeasurement {
        bytes32 osImageHash;
        uint64 activatesAt;
    }

    mapping(address appId => mapping(bytes32 mrSystem => ImageMeasurement)) private _imageMeasurements;
    mapping(address appId => mapping(bytes32 osImageHash => bytes32[] mrSystems)) private _measurementsOf;

    bytes32 private constant UP_TO_DATE = keccak256("UpToDate");

    event AppRegistered(address indexed appId, address indexed owner, uint64 timelock);
    event AppOwnershipTransferStarted(address indexed appId, address indexed owner, address indexed pendingOwner);
    event AppOwnershipTransferred(address indexed appId, address indexed previousOwner, address indexed newOwner);
    /// @notice `effectiveAt` is now for a raise and `block.timestamp + old timelock` for a lowering.
    event TimelockChanged(address indexed appId, uint64 oldTimelock, uint64 newTimelock, uint64 effectiveAt);
    event RequireTcbUpToDateSet(address indexed appId, bool required);
    /// @notice Whether any agent may enroll under `appId` in RegentSuccession (else only consented agents).
    event OpenEnrollmentSet(address indexed appId, bool open);
    /// @notice The app owner's consent (or its withdrawal) to ERC-8004 agent `agentId` enrolling under `appId`.
    event EnrollmentConsentSet(address indexed appId, uint256 indexed agentId, bool consent);
    event ComposeHashAdded(address indexed appId, bytes32 indexed composeHash, uint64 activatesAt);
    event ComposeHashRemoved(address indexed appId, bytes32 indexed composeHash);
    event OsImageAdded(address indexed appId, bytes32 indexed osImageHash, uint64 activatesAt);
    event OsImageRemoved(address indexed appId, bytes32 indexed osImageHash);
    event KmsRootAdded(address indexed appId, address indexed kmsRoot, uint64 activatesAt);
    event KmsRootRemoved(address indexed appId, address indexed kmsRoot);
    event KmsMeasurementAdded(bytes32 indexed mrAggregated, uint64 activatesAt);
    event KmsMeasurementRemoved(bytes32 indexed mrAggregated);
    event KmsOsImageAdded(bytes32 indexed osImageHash, uint64 activatesAt);
    event KmsOsImageRemoved(bytes32 indexed osImageHash);
    /// @notice A measurement (one VM shape) of `osImageHash` for `appId` (0 = the KMS table): `mrSystem` =
    ///         SHA-256(`registers` ‖ 0³²), `registers` = MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2.
    event OsImageMeasurementAdded(
        address indexed appId, bytes32 indexed osImageHash, bytes32 indexed mrSystem, bytes registers, uint64 activatesAt
    );
    /// @notice A measurement of `osImageHash` was revoked for `appId` (also emitted for each when the image is removed).
    event OsImageMeasurementRemoved(address indexed appId, bytes32 indexed osImageHash, bytes32 indexed mrSystem);

    error AppAlreadyRegistered(address appId);
    error AppNotRegistered(address appId);
    error NotAppOwner(address appId, address caller);
    error NotPendingAppOwner(address appId, address caller);
    error TimelockTooLong(uint64 max, uint64 timelock);
    error ZeroValue();
    error AlreadyListed(bytes32 value);
    error NotListed(bytes32 value);
    error ExternalAppIdNotAuthorized(address appId, address caller);
    error InvalidMeasurement(uint256 length);
    error TooManyMeasurements(uint256 max);
    error MeasurementOfOtherImage(bytes32 mrSystem, bytes32 osImageHash);

    /// @param kmsTimelock_ Delay (seconds) before governance's KMS measurement / OS image additions activate.
    constructor(uint64 kmsTimelock_) Ownable(msg.sender) {
        if (kmsTimelock_ > MAX_TIMELOCK) revert TimelockTooLong(MAX_TIMELOCK, kmsTimelock_);
        kmsTimelock = kmsTimelock_;
    }

    modifier onlyAppOwner(address appId) {
        address owner_ = _apps[appId].owner;
        if (owner_ == address(0)) revert AppNotRegistered(appId);
        if (owner_ != msg.sender) revert NotAppOwner(appId, msg.sender);
        _;
    }

    // ---------------------------------------------------------------------------------------------
    // Apps (DESIGN.md §9)
    // ---------------------------------------------------------------------------------------------

    /// @notice Registers a new app owned by the caller. DESIGN.md §9.
    /// @dev The id is derived from the caller and `salt`, so nobody can claim an id another owner
    ///      will use. Reverts `AppAlreadyRegistered` for a reused salt, `TimelockTooLong` above MAX_TIMELOCK.
    /// @param salt Any value chosen by the owner; one app per (owner, salt).
    /// @param timelock Seconds between adding a measurement and it becoming active.
    /// @return appId `address(uint160(uint256(keccak256(abi.encode(msg.sender, salt)))))`.
    function registerApp(bytes32 salt, uint64 timelock) external returns (address appId) {
        if (timelock > MAX_TIMELOCK) revert TimelockTooLong(MAX_TIMELOCK, timelock);
        appId = computeAppId(msg.sender, salt);
        App storage app = _apps[appId];
        if (app.owner != address(0)) revert AppAlreadyRegistered(appId);
        app.owner = msg.sender;
        app.timelock = timelock;
        emit AppRegistered(appId, msg.sender, timelock);
    }

    /// @notice Registers an app whose id is assigned outside RegentAppAuth, owned by `owner_` (docs/targets/phala.md):
    ///         the address of a contract that dstack's on-chain KMS consults (`DstackKms` calls `isAppAllowed` on
    ///         the app id), or an id a hosted KMS assigns (Phala Cloud's central KMS). DESIGN.md §9, §14.
    /// @dev Who may register `appId`: the contract at `appId` itself (from its constructor: RegentDstackApp), or
    ///      the governance owner of this contract for an id without code (a hosted KMS's app id). An app owner
    ///      cannot claim an arbitrary id: that would let anyone take an id before the app that boots under it
    ///      (`ExternalAppIdNotAuthorized`). Reverts `AppAlreadyRegistered`, `TimelockTooLong`, `ZeroValue` for a
    ///      zero owner or id. Emits `AppRegistered`.
    function registerExternalApp(address appId, address owner_, uint64 timelock) external {
        if (appId == address(0) || owner_ == address(0)) revert ZeroValue();
        if (timelock > MAX_TIMELOCK) revert TimelockTooLong(MAX_TIMELOCK, timelock);
        if (msg.sender != appId && (msg.sender != owner() || appId.code.length != 0)) {
            revert ExternalAppIdNotAuthorized(appId, msg.sender);
        }
        App storage app = _apps[appId];
        if (app.owner != address(0)) revert AppAlreadyRegistered(appId);
        app.owner = owner_;
        app.timelock = timelock;
        emit AppRegistered(appId, owner_, timelock);
    }

    /// @notice The app id `registerApp(salt, …)` yields when called by `owner`. DESIGN.md §9.
    function computeAppId(address owner_, bytes32 salt) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(owner_, salt)))));
    }

    /// @notice Starts a two-step ownership transfer of `appId`; `newOwner` = 0 cancels a pending one. DESIGN.md §9.
    /// @dev App owner only (`NotAppOwner`, `AppNotRegistered`).
    function transferAppOwnership(address appId, address newOwner) external onlyAppOwner(appId) {
        _apps[appId].pendingOwner = newOwner;
        emit AppOwnershipTransferStarted(appId, msg.sender, newOwner);
    }

    /// @notice Completes a transfer started by `transferAppOwnership`; caller must be the pending owner. DESIGN.md §9.
    /// @dev Reverts `NotPendingAppOwner` for anyone else.
    function acceptAppOwnership(address appId) external {
        App storage app = _apps[appId];
        if (app.owner == address(0)) revert AppNotRegistered(appId);
        if (app.pendingOwner != msg.sender) revert NotPendingAppOwner(appId, msg.sender);
        address previous = app.owner;
        app.owner = msg.sender;
        app.pendingOwner = address(0);
        emit AppOwnershipTransferred(appId, previous, msg.sender);
    }

    /// @notice Changes the app's timelock. DESIGN.md §9 (exit window).
    /// @dev Raising (or keeping) takes effect at once and cancels a pending lowering. Lowering takes
    ///      effect only after the current timelock has elapsed, so an owner cannot lower it to 0 and
    ///      push new code immediately. App owner only; `TimelockTooLong` above MAX_TIMELOCK.
    function setTimelock(address appId, uint64 newTimelock) external onlyAppOwner(appId) {
        if (newTimelock > MAX_TIMELOCK) revert TimelockTooLong(MAX_TIMELOCK, newTimelock);
        App storage app = _apps[appId];
        uint64 current = _effectiveTimelock(app);
        uint64 effectiveAt;
        if (newTimelock >= current) {
            app.timelock = newTimelock;
            app.pendingTimelock = 0;
            app.pendingTimelockAt = 0;
            effectiveAt = uint64(block.timestamp);
        } else {
            effectiveAt = uint64(block.timestamp) + current;
            app.timelock = current;
            app.pendingTimelock = newTimelock;
            app.pendingTimelockAt = effectiveAt;
        }
        emit TimelockChanged(appId, current, newTimelock, effectiveAt);
    }

    /// @notice Requires (or stops requiring) tcbStatus "UpToDate" in `isAppAllowed`. DESIGN.md §6, §9.
    /// @dev App owner only. Immediate in both directions: it only ever narrows what boots when set,
    ///      and clearing it is a policy choice of the owner like dstack's `setRequireTcbUpToDate`.
    function setRequireTcbUpToDate(address appId, bool required) external onlyAppOwner(appId) {
        _apps[appId].requireTcbUpToDate = required;
        emit RequireTcbUpToDateSet(appId, required);
    }

    /// @notice Lets any agent (`open`) or only agents the owner consented to enroll under `appId` in
    ///         RegentSuccession. Closed by default. DESIGN.md §9.
    /// @dev App owner only; immediate (it decides who may claim to be this app, not what code runs).
    function setOpenEnrollment(address appId, bool open) external onlyAppOwner(appId) {
        _apps[appId].openEnrollment = open;
        emit OpenEnrollmentSet(appId, open);
    }

    /// @notice Gives (or withdraws) the owner's consent to ERC-8004 agent `agentId` enrolling under `appId`. DESIGN.md §9.
    /// @dev App owner only; immediate. A withdrawal does not undo an enrollment already made.
    function setEnrollmentConsent(address appId, uint256 agentId, bool consent) external onlyAppOwner(appId) {
        _enrollmentConsent[appId][agentId] = consent;
        emit EnrollmentConsentSet(appId, agentId, consent);
    }

    /// @notice Approves `composeHash` for `appId`, active after the app's timelock. DESIGN.md §9.
    /// @dev App owner only; `ZeroValue` for 0, `AlreadyListed` when approved or pending.
    function addComposeHash(address appId, bytes32 composeHash) external onlyAppOwner(appId) {
        emit ComposeHashAdded(appId, composeHash, _add(_composeHashes[appId], composeHash, _effectiveTimelock(_apps[appId])));
    }

    /// @notice Revokes `composeHash` (active or pending) for `appId` at once. DESIGN.md §9.
    /// @dev App owner only; `NotListed` when absent.
    function removeComposeHash(address appId, bytes32 composeHash) external onlyAppOwner(appId) {
        _remove(_composeHashes[appId], composeHash);
        emit ComposeHashRemoved(appId, composeHash);
    }

    /// @notice Approves `osImageHash` for `appId` with its expected measurements (one per VM shape, each
    ///         MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), all active after the app's timelock. On an image already
    ///         listed, adds only the measurements (each with its own timelock). DESIGN.md §9, §14.
    /// @dev App owner only; `ZeroValue` for 0; `InvalidMeasurement` for a measurement that is not 192
    ///      bytes or an empty list on a new image; `AlreadyListed` for a listed measurement;
    ///      `MeasurementOfOtherImage` when the measurement belongs to another image of the app;
    ///      `TooManyMeasurements` above MAX_IMAGE_MEASUREMENTS.
    function addOsImage(address appId, bytes32 osImageHash, bytes[] calldata measurements) external onlyAppOwner(appId) {
        _addOsImage(appId, osImageHash, measurements, _effectiveTimelock(_apps[appId]));
    }

    /// @notice Revokes `osImageHash` (active or pending) and all its measurements for `appId` at once. DESIGN.md §9.
    /// @dev App owner only; `NotListed` when absent.
    function removeOsImage(address appId, bytes32 osImageHash) external onlyAppOwner(appId) {
        _removeOsImage(appId, osImageHash);
        emit OsImageRemoved(appId, osImageHash);
    }

    /// @notice Revokes one measurement (VM shape) of an OS image of `appId` at once. DESIGN.md §9, §14.
    /// @dev App owner only; `NotListed` when absent.
    function removeOsImageMeasurement(address appId, bytes32 mrSystem) external onlyAppOwner(appId) {
        _removeMeasurement(appId, mrSystem);
    }

    /// @notice Allows the KMS whose root secp256k1 key has address `kmsRoot` to serve `appId`,
    ///         active after the app's timelock. DESIGN.md §6, §9.
    /// @dev App owner only; `ZeroValue` for 0, `AlreadyListed` when allowed or pending.
    function addKmsRoot(address appId, address kmsRoot) external onlyAppOwner(appId) {
        emit KmsRootAdded(appId, kmsRoot, _add(_kmsRoots[appId], _key(kmsRoot), _effectiveTimelock(_apps[appId])));
    }

    /// @notice Revokes KMS root `kmsRoot` (active or pending) for `appId` at once. DESIGN.md §6, §9.
    /// @dev App owner only; `NotListed` when absent.
    function removeKmsRoot(address appId, address kmsRoot) external onlyAppOwner(appId) {
        _remove(_kmsRoots[appId], _key(kmsRoot));
        emit KmsRootRemoved(appId, kmsRoot);
    }

    // ---------------------------------------------------------------------------------------------
    // KMS node measurements (governance; DESIGN.md §6 onboarding)
    // ---------------------------------------------------------------------------------------------

    /// @notice Approves a KMS node measurement (mrAggregated), active after `kmsTimelock`. DESIGN.md §6.
    /// @dev Contract owner only (`OwnableUnauthorizedAccount`); `ZeroValue`, `AlreadyListed`.
    function addKmsMeasurement(bytes32 mrAggregated) external onlyOwner {
        emit KmsMeasurementAdded(mrAggregated, _add(_kmsMeasurements, mrAggregated, kmsTimelock));
    }

    /// @notice Revokes a KMS node measurement (active or pending) at once. DESIGN.md §6.
    /// @dev Contract owner only; `NotListed` when absent.
    function removeKmsMeasurement(bytes32 mrAggregated) external onlyOwner {
        _remove(_kmsMeasurements, mrAggregated);
        emit KmsMeasurementRemoved(mrAggregated);
    }

    /// @notice Approves an OS image for KMS nodes with its measurements (as `addOsImage`), active after
    ///         `kmsTimelock`; recorded under app id `KMS_IMAGES`. DESIGN.md §6, §14.
    /// @dev Contract owner only; the errors of `addOsImage`.
    function addKmsOsImage(bytes32 osImageHash, bytes[] calldata measurements) external onlyOwner {
        _addOsImage(KMS_IMAGES, osImageHash, measurements, kmsTimelock);
    }

    /// @notice Revokes an OS image for KMS nodes (active or pending) and its measurements at once. DESIGN.md §6.
    /// @dev Contract owner only; `NotListed` when absent.
    function removeKmsOsImage(bytes32 osImageHash) external onlyOwner {
        _removeOsImage(KMS_IMAGES, osImageHash);
        emit KmsOsImageRemoved(osImageHash);
    }

    /// @notice Revokes one measurement of a KMS OS image at once. DESIGN.md §6, §14.
    /// @dev Contract owner only; `NotListed` when absent.
    function removeKmsOsImageMeasurement(bytes32 mrSystem) external onlyOwner {
        _removeMeasurement(KMS_IMAGES, mrSystem);
    }

    // ---------------------------------------------------------------------------------------------
    // Boot authorization (DESIGN.md §6; dstack IAppAuth)
    // ---------------------------------------------------------------------------------------------

    /// @notice Whether a CVM with these verified boot facts may receive its app keys. DESIGN.md §6.
    /// @dev Checks in order: app registered ("App not registered"); compose hash approved ("Compose
    ///      hash not allowed") and active ("Compose hash pending timelock"); OS image approved ("OS
    ///      image is not allowed") and active ("OS image pending timelock"); `mrSystem` a measurement
    ///      of that image ("OS image measurement mismatch") and active ("OS image measurement pending
    ///      timelock"); when the app requires it, tcbStatus "UpToDate" ("TCB status not UpToDate").
    ///      `reason` is "" when allowed.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        return _isAppAllowed(bootInfo);
    }

    /// @notice `isAppAllowed`, and also that the serving KMS's root key `kmsRoot` is allowed for the
    ///         app and active ("KMS root not allowed" / "KMS root pending timelock"). DESIGN.md §6.
    function isAppAllowedWithKms(AppBootInfo calldata bootInfo, address kmsRoot)
        external
        view
        returns (bool isAllowed, string memory reason)
    {
        (isAllowed, reason) = _isAppAllowed(bootInfo);
        if (!isAllowed) return (isAllowed, reason);
        uint64 at = _kmsRoots[bootInfo.appId][_key(kmsRoot)];
        if (at == 0) return (false, "KMS root not allowed");
        if (block.timestamp < at) return (false, "KMS root pending timelock");
        return (true, "");
    }

    /// @notice Whether a KMS node with these boot facts may be onboarded (receive the root keys). DESIGN.md §6.
    /// @dev Checks in order: tcbStatus "UpToDate" ("TCB status not UpToDate"); OS image in the KMS
    ///      list and `mrSystem` one of its measurements (the reasons of `isAppAllowed`); mrAggregated
    ///      approved ("Aggregated MR not allowed" / "Aggregated MR pending timelock").
    function isKmsAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (keccak256(bytes(bootInfo.tcbStatus)) != UP_TO_DATE) return (false, "TCB status not UpToDate");
        string memory imageReason = _osImageReason(KMS_IMAGES, bootInfo.osImageHash, bootInfo.mrSystem);
        if (bytes(imageReason).length != 0) return (false, imageReason);
        uint64 at = _kmsMeasurements[bootInfo.mrAggregated];
        if (at == 0) return (false, "Aggregated MR not allowed");
        if (block.timestamp < at) return (false, "Aggregated MR pending timelock");
        return (true, "");
    }

    // ---------------------------------------------------------------------------------------------
    // Views (DESIGN.md §9, §12 monitor)
    // ---------------------------------------------------------------------------------------------

    /// @notice True when `appId` has been registered. DESIGN.md §9.
    function isRegistered(address appId) external view returns (bool) {
        return _apps[appId].owner != address(0);
    }

    /// @notice The owner of `appId`; 0 when not registered. DESIGN.md §9.
    function appOwner(address appId) external view returns (address) {
        return _apps[appId].owner;
    }

    /// @notice The pending owner of a two-step transfer of `appId`; 0 when none. DESIGN.md §9.
    function pendingAppOwner(address appId) external view returns (address) {
        return _apps[appId].pendingOwner;
    }

    /// @notice The timelock in force for `appId` now (a scheduled lowering counts once due). DESIGN.md §9.
    function timelockOf(address appId) external view returns (uint64) {
        return _effectiveTimelock(_apps[appId]);
    }

    /// @notice A scheduled timelock lowering of `appId`: the new value and when it applies (0, 0 when none or applied). DESIGN.md §9.
    function pendingTimelockOf(address appId) external view returns (uint64 timelock, uint64 effectiveAt) {
        App storage app = _apps[appId];
        if (app.pendingTimelockAt == 0 || block.timestamp >= app.pendingTimelockAt) return (0, 0);
        return (app.pendingTimelock, app.pendingTimelockAt);
    }

    /// @notice Whether `isAppAllowed` requires tcbStatus "UpToDate" for `appId`. DESIGN.md §6.
    function requiresTcbUpToDate(address appId) external view returns (bool) {
        return _apps[appId].requireTcbUpToDate;
    }

    /// @notice Whether agent `agentId` may enroll under `appId`: the app is registered and its owner opened
    ///         enrollment or consented to this agent. DESIGN.md §9 (RegentSuccession.enroll).
    function mayEnroll(address appId, uint256 agentId) external view returns (bool) {
        App storage app = _apps[appId];
        return app.owner != address(0) && (app.openEnrollment || _enrollmentConsent[appId][agentId]);
    }

    /// @notice Whether any agent may enroll under `appId` (the owner's `setOpenEnrollment`). DESIGN.md §9.
    function isEnrollmentOpen(address appId) external view returns (bool) {
        return _apps[appId].openEnrollment;
    }

    /// @notice True when `composeHash` is approved for `appId` and active. DESIGN.md §9.
    function isComposeHashApproved(address appId, bytes32 composeHash) external view returns (bool) {
        return _active(_composeHashes[appId][composeHash]);
    }

    /// @notice When `composeHash` becomes (or became) active for `appId`; 0 when not approved. DESIGN.md §9, §12.
    function composeHashActivatesAt(address appId, bytes32 composeHash) external view returns (uint64) {
        return _composeHashes[appId][composeHash];
    }

    /// @notice True when `osImageHash` is approved for `appId` and active. DESIGN.md §9.
    function isOsImageApproved(address appId, bytes32 osImageHash) external view returns (bool) {
        return _active(_osImages[appId][osImageHash]);
    }

    /// @notice When `osImageHash` becomes (or became) active for `appId`; 0 when not approved. DESIGN.md §9, §12.
    function osImageActivatesAt(address appId, bytes32 osImageHash) external view returns (uint64) {
        return _osImages[appId][osImageHash];
    }

    /// @notice True when KMS root `kmsRoot` is allowed for `appId` and active. DESIGN.md §6, §9.
    function isKmsRootAllowed(address appId, address kmsRoot) external view returns (bool) {
        return _active(_kmsRoots[appId][_key(kmsRoot)]);
    }

    /// @notice When KMS root `kmsRoot` becomes (or became) active for `appId`; 0 when not allowed. DESIGN.md §6, §12.
    function kmsRootActivatesAt(address appId, address kmsRoot) external view returns (uint64) {
        return _kmsRoots[appId][_key(kmsRoot)];
    }

    /// @notice True when KMS node measurement `mrAggregated` is approved and active. DESIGN.md §6.
    function isKmsMeasurementApproved(bytes32 mrAggregated) external view returns (bool) {
        return _active(_kmsMeasurements[mrAggregated]);
    }

    /// @notice When KMS node measurement `mrAggregated` becomes (or became) active; 0 when absent. DESIGN.md §6, §12.
    function kmsMeasurementActivatesAt(bytes32 mrAggregated) external view returns (uint64) {
        return _kmsMeasurements[mrAggregated];
    }

    /// @notice True when `osImageHash` is approved for KMS nodes and active. DESIGN.md §6.
    function isKmsOsImageApproved(bytes32 osImageHash) external view returns (bool) {
        return _active(_osImages[KMS_IMAGES][osImageHash]);
    }

    /// @notice When KMS OS image `osImageHash` becomes (or became) active; 0 when absent. DESIGN.md §6, §12.
    function kmsOsImageActivatesAt(bytes32 osImageHash) external view returns (uint64) {
        return _osImages[KMS_IMAGES][osImageHash];
    }

    /// @notice The OS image of `appId` (0 = the KMS table) that measurement `mrSystem` belongs to, and when
    ///         both the image and this measurement are active; (0, 0) when it is no approved image's. DESIGN.md §14.
    /// @dev What a verifier holding a quote asks: mrSystem = SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 0³²).
    function osImageOfMeasurement(address appId, bytes32 mrSystem)
        external
        view
        returns (bytes32 osImageHash, uint64 activatesAt)
    {
        ImageMeasurement storage m = _imageMeasurements[appId][mrSystem];
        osImageHash = m.osImageHash;
        if (osImageHash == bytes32(0)) return (bytes32(0), 0);
        uint64 imageAt = _osImages[appId][osImageHash];
        activatesAt = imageAt > m.activatesAt ? imageAt : m.activatesAt;
    }

    /// @notice The measurements (`mrSystem` values) approved with `osImageHash` for `appId` (0 = KMS). DESIGN.md §12, §14.
    function osImageMeasurements(address appId, bytes32 osImageHash) external view returns (bytes32[] memory) {
        return _measurementsOf[appId][osImageHash];
    }

    /// @notice ERC-165: IRegentAppBootAuth (= dstack IAppAuth, 0x1e079198), IRegentAppAuth, ERC-165. DESIGN.md §6.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IRegentAppBootAuth).interfaceId || interfaceId == type(IRegentAppAuth).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    function _isAppAllowed(AppBootInfo calldata bootInfo) private view returns (bool, string memory) {
        App storage app = _apps[bootInfo.appId];
        if (app.owner == address(0)) return (false, "App not registered");
        uint64 at = _composeHashes[bootInfo.appId][bootInfo.composeHash];
        if (at == 0) return (false, "Compose hash not allowed");
        if (block.timestamp < at) return (false, "Compose hash pending timelock");
        string memory imageReason = _osImageReason(bootInfo.appId, bootInfo.osImageHash, bootInfo.mrSystem);
        if (bytes(imageReason).length != 0) return (false, imageReason);
        if (app.requireTcbUpToDate && keccak256(bytes(bootInfo.tcbStatus)) != UP_TO_DATE) {
            return (false, "TCB status not UpToDate");
        }
        return (true, "");
    }

    /// @dev "" when `osImageHash` is approved and active for `appId` and `mrSystem` is one of its active measurements.
    function _osImageReason(address appId, bytes32 osImageHash, bytes32 mrSystem) private view returns (string memory) {
        uint64 at = _osImages[appId][osImageHash];
        if (at == 0) return "OS image is not allowed";
        if (block.timestamp < at) return "OS image pending timelock";
        ImageMeasurement storage m = _imageMeasurements[appId][mrSystem];
        if (m.osImageHash != osImageHash) return "OS image measurement mismatch";
        if (block.timestamp < m.activatesAt) return "OS image measurement pending timelock";
        return "";
    }

    function _addOsImage(address appId, bytes32 osImageHash, bytes[] calldata measurements, uint64 timelock) private {
        mapping(bytes32 => uint64) storage images = _osImages[appId];
        if (images[osImageHash] == 0) {
            if (measurements.length == 0) revert InvalidMeasurement(0);
            uint64 imageAt = _add(images, osImageHash, timelock);
            if (appId == KMS_IMAGES) emit KmsOsImageAdded(osImageHash, imageAt);
            else emit OsImageAdded(appId, osImageHash, imageAt);
        }
        bytes32[] storage list = _measurementsOf[appId][osImageHash];
        if (list.length + measurements.length > MAX_IMAGE_MEASUREMENTS) revert TooManyMeasurements(MAX_IMAGE_MEASUREMENTS);
        uint64 activatesAt = uint64(block.timestamp) + timelock;
        for (uint256 i = 0; i < measurements.length; i++) {
            bytes calldata registers = measurements[i];
            if (registers.length != MEASUREMENT_LENGTH) revert InvalidMeasurement(registers.length);
            bytes32 mrSystem = sha256(abi.encodePacked(registers, bytes32(0)));
            ImageMeasurement storage m = _imageMeasurements[appId][mrSystem];
            if (m.osImageHash == osImageHash) revert AlreadyListed(mrSystem);
            if (m.osImageHash != bytes32(0)) revert MeasurementOfOtherImage(mrSystem, m.osImageHash);
            m.osImageHash = osImageHash;
            m.activatesAt = activatesAt;
            list.push(mrSystem);
            emit OsImageMeasurementAdded(appId, osImageHash, mrSystem, registers, activatesAt);
        }
    }

    function _removeOsImage(address appId, bytes32 osImageHash) private {
        _remove(_osImages[appId], osImageHash);
        bytes32[] storage list = _measurementsOf[appId][osImageHash];
        for (uint256 i = list.length; i > 0; i--) {
            bytes32 mrSystem = list[i - 1];
            delete _imageMeasurements[appId][mrSystem];
            list.pop();
            emit OsImageMeasurementRemoved(appId, osImageHash, mrSystem);
        }
    }

    function _removeMeasurement(address appId, bytes32 mrSystem) private {
        bytes32 osImageHash = _imageMeasurements[appId][mrSystem].osImageHash;
        if (osImageHash == bytes32(0)) revert NotListed(mrSystem);
        delete _imageMeasurements[appId][mrSystem];
        bytes32[] storage list = _measurementsOf[appId][osImageHash];
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == mrSystem) {
                list[i] = list[list.length - 1];
                list.pop();
                break;
            }
        }
        emit OsImageMeasurementRemoved(appId, osImageHash, mrSystem);
    }

    function _effectiveTimelock(App storage app) private view returns (uint64) {
        uint64 at = app.pendingTimelockAt;
        if (at != 0 && block.timestamp >= at) return app.pendingTimelock;
        return app.timelock;
    }

    function _add(mapping(bytes32 => uint64) storage set, bytes32 value, uint64 timelock) private returns (uint64 activatesAt) {
        if (value == bytes32(0)) revert ZeroValue();
        if (set[value] != 0) revert AlreadyListed(value);
        activatesAt = uint64(block.timestamp) + timelock;
        set[value] = activatesAt;
    }

    function _remove(mapping(bytes32 => uint64) storage set, bytes32 value) private {
        if (set[value] == 0) revert NotListed(value);
        delete set[value];
    }

    function _active(uint64 activatesAt) private view returns (bool) {
        return activatesAt != 0 && block.timestamp >= activatesAt;
    }

    function _key(address value) private pure returns (bytes32) {
        return bytes32(uint256(uint160(value)));
    }

    // ---------------------------------------------------------------------------------------------
    // dstack KMS auth-eth compatibility (reference/providers.md §2.5; dstack `kms/auth-eth/src/ethereum.ts`)
    // ---------------------------------------------------------------------------------------------

    /// @dev The gateway's app id a dstack KMS hands to booting CVMs ("" = none configured).
    string private _gatewayAppId;

    /// @notice The gateway app id changed (governance).
    event GatewayAppIdSet(string gatewayAppId);

    /// @notice Sets the dstack gateway app id reported by `gatewayAppId()`. DESIGN.md §14 (dstack target).
    /// @dev Contract owner only (`OwnableUnauthorizedAccount`). Informational for the KMS: it grants nothing.
    function setGatewayAppId(string calldata gatewayAppId_) external onlyOwner {
        _gatewayAppId = gatewayAppId_;
        emit GatewayAppIdSet(gatewayAppId_);
    }

    /// @notice The dstack gateway app id (as dstack's `DstackKms.gatewayAppId()`); "" when none is set.
    /// @dev dstack's auth-eth webhook reads it on every boot check and returns it as `gatewayAppId`.
    function gatewayAppId() external view returns (string memory) {
        return _gatewayAppId;
    }

    /// @notice dstack's `DstackKms.appImplementation()`: the per-app contract implementation. RegentAppAuth
    ///         has none (apps are entries of this registry, not proxies), so it answers address(0).
    /// @dev auth-eth's `GET /` reports it as `appImplementation`; nothing is deployed from it.
    function appImplementation() external pure returns (address) {
        return address(0);
    }
}
