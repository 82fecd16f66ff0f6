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
        address pendingOwner;
        uint64 pendingTimelock;
        uint64 pendingTimelockAt; // 0 = no pending lowering
    }

    mapping(address appId => App) private _apps;
    mapping(address appId => mapping(bytes32 composeHash => uint64 activatesAt)) private _composeHashes;
    mapping(address appId => mapping(bytes32 osImageHash => uint64 activatesAt)) private _osImages;
    mapping(address appId => mapping(bytes32 kmsRoot => uint64 activatesAt)) private _kmsRoots;
    mapping(bytes32 mrAggregated => uint64 activatesAt) private _kmsMeasurements;
    mapping(bytes32 osImageHash => uint64 activatesAt) private _kmsOsImages;

    bytes32 private constant UP_TO_DATE = keccak256("UpToDate");

    event AppRegistered(address indexed appId, address indexed owner, uint64 timelock);
    event AppOwnershipTransferStarted(address indexed appId, address indexed owner, address indexed pendingOwner);
    event AppOwnershipTransferred(address indexed appId, address indexed previousOwner, address indexed newOwner);
    /// @notice `effectiveAt` is now for a raise and `block.timestamp + old timelock` for a lowering.
    event TimelockChanged(address indexed appId, uint64 oldTimelock, uint64 newTimelock, uint64 effectiveAt);
    event RequireTcbUpToDateSet(address indexed appId, bool required);
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

    error AppAlreadyRegistered(address appId);
    error AppNotRegistered(address appId);
    error NotAppOwner(address appId, address caller);
    error NotPendingAppOwner(address appId, address caller);
    error TimelockTooLong(uint64 max, uint64 timelock);
    error ZeroValue();
    error AlreadyListed(bytes32 value);
    error NotListed(bytes32 value);
    error ExternalAppIdNotAuthorized(address appId, address caller);

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

    /// @notice Approves `osImageHash` for `appId`, active after the app's timelock. DESIGN.md §9.
    /// @dev App owner only; `ZeroValue` for 0, `AlreadyListed` when approved or pending.
    function addOsImage(address appId, bytes32 osImageHash) external onlyAppOwner(appId) {
        emit OsImageAdded(appId, osImageHash, _add(_osImages[appId], osImageHash, _effectiveTimelock(_apps[appId])));
    }

    /// @notice Revokes `osImageHash` (active or pending) for `appId` at once. DESIGN.md §9.
    /// @dev App owner only; `NotListed` when absent.
    function removeOsImage(address appId, bytes32 osImageHash) external onlyAppOwner(appId) {
        _remove(_osImages[appId], osImageHash);
        emit OsImageRemoved(appId, osImageHash);
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

    /// @notice Approves an OS image for KMS nodes, active after `kmsTimelock`. DESIGN.md §6.
    /// @dev Contract owner only; `ZeroValue`, `AlreadyListed`.
    function addKmsOsImage(bytes32 osImageHash) external onlyOwner {
        emit KmsOsImageAdded(osImageHash, _add(_kmsOsImages, osImageHash, kmsTimelock));
    }

    /// @notice Revokes an OS image for KMS nodes (active or pending) at once. DESIGN.md §6.
    /// @dev Contract owner only; `NotListed` when absent.
    function removeKmsOsImage(bytes32 osImageHash) external onlyOwner {
        _remove(_kmsOsImages, osImageHash);
        emit KmsOsImageRemoved(osImageHash);
    }

    // ---------------------------------------------------------------------------------------------
    // Boot authorization (DESIGN.md §6; dstack IAppAuth)
    // ---------------------------------------------------------------------------------------------

    /// @notice Whether a CVM with these verified boot facts may receive its app keys. DESIGN.md §6.
    /// @dev Checks in order: app registered ("App not registered"); compose hash approved ("Compose
    ///      hash not allowed") and active ("Compose hash pending timelock"); OS image approved ("OS
    ///      image is not allowed") and active ("OS image pending timelock"); when the app requires it,
    ///      tcbStatus "UpToDate" ("TCB status not UpToDate"). `reason` is "" when allowed.
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
    ///      list ("OS image is not allowed" / "OS image pending timelock"); mrAggregated approved
    ///      ("Aggregated MR not allowed" / "Aggregated MR pending timelock").
    function isKmsAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (keccak256(bytes(bootInfo.tcbStatus)) != UP_TO_DATE) return (false, "TCB status not UpToDate");
        uint64 at = _kmsOsImages[bootInfo.osImageHash];
        if (at == 0) return (false, "OS image is not allowed");
        if (block.timestamp < at) return (false, "OS image pending timelock");
        at = _kmsMeasurements[bootInfo.mrAggregated];
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
        return _active(_kmsOsImages[osImageHash]);
    }

    /// @notice When KMS OS image `osImageHash` becomes (or became) active; 0 when absent. DESIGN.md §6, §12.
    function kmsOsImageActivatesAt(bytes32 osImageHash) external view returns (uint64) {
        return _kmsOsImages[osImageHash];
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
        at = _osImages[bootInfo.appId][bootInfo.osImageHash];
        if (at == 0) return (false, "OS image is not allowed");
        if (block.timestamp < at) return (false, "OS image pending timelock");
        if (app.requireTcbUpToDate && keccak256(bytes(bootInfo.tcbStatus)) != UP_TO_DATE) {
            return (false, "TCB status not UpToDate");
        }
        return (true, "");
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
