// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {RegentAppAuth} from "./RegentAppAuth.sol";
import {IRegentAppBootAuth} from "./interfaces/IRegentAppBootAuth.sol";
import {IAppAuth} from "./vendor/dstack/IAppAuth.sol";

/// @title RegentDstackApp
/// @notice The per-app contract of an app that boots under dstack's on-chain KMS (Phala Cloud on Base or
///         Ethereum; docs/targets/phala.md "On-chain KMS"). dstack's `DstackKms.isAppAllowed` checks that the
///         app is registered there and that its OS image is allowed, then calls `isAppAllowed` on the app id,
///         i.e. on this contract, which forwards the decision to RegentAppAuth. So Regent's time-locked
///         approvals (compose hash, OS image, KMS root) gate the boot, not a copy of them.
/// @dev The app id is this contract's address, in dstack (key derivation, `DstackKms.registerApp`) and in
///      RegentAppAuth alike: the constructor registers it there with `registerExternalApp`, which only the
///      contract at an id may do for itself. The owner then manages the app in RegentAppAuth as any other app.
///      `allowedComposeHashes` answers like DstackApp's getter, so tools that read a DstackApp see Regent's
///      active approvals. Devices are not checked (RegentAppAuth has no device list).
contract RegentDstackApp is ERC165, IAppAuth {
    /// @notice The RegentAppAuth that decides.
    RegentAppAuth public immutable appAuth;
    /// @notice Address of the KMS root key that serves this app (dstack `kmsInfo.k256Pubkey`); it must also be
    ///         allowed for the app in RegentAppAuth (`addKmsRoot`) for a boot to pass.
    address public immutable kmsRoot;

    /// @param appAuth_ RegentAppAuth.
    /// @param owner_ The app's owner in RegentAppAuth.
    /// @param timelock The app's timelock in RegentAppAuth (seconds).
    /// @param kmsRoot_ The serving KMS root key's address.
    constructor(RegentAppAuth appAuth_, address owner_, uint64 timelock, address kmsRoot_) {
        appAuth = appAuth_;
        kmsRoot = kmsRoot_;
        appAuth_.registerExternalApp(address(this), owner_, timelock);
    }

    /// @notice dstack's boot check, answered by RegentAppAuth's `isAppAllowedWithKms(bootInfo, kmsRoot)`.
    /// @dev Refuses ("App id is not this contract") boot facts of another app: DstackKms only delegates an
    ///      app's own boots here, and a direct caller must not read another app's decision through this one.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view override returns (bool isAllowed, string memory reason) {
        if (bootInfo.appId != address(this)) return (false, "App id is not this contract");
        IRegentAppBootAuth.AppBootInfo memory info = IRegentAppBootAuth.AppBootInfo({
            appId: bootInfo.appId,
            composeHash: bootInfo.composeHash,
            instanceId: bootInfo.instanceId,
            deviceId: bootInfo.deviceId,
            mrAggregated: bootInfo.mrAggregated,
            mrSystem: bootInfo.mrSystem,
            osImageHash: bootInfo.osImageHash,
            tcbStatus: bootInfo.tcbStatus,
            advisoryIds: bootInfo.advisoryIds
        });
        return appAuth.isAppAllowedWithKms(info, kmsRoot);
    }

    /// @notice DstackApp's getter: true when `composeHash` is approved for this app and active in RegentAppAuth.
    function allowedComposeHashes(bytes32 composeHash) external view returns (bool) {
        return appAuth.isComposeHashApproved(address(this), composeHash);
    }

    /// @notice ERC-165: dstack IAppAuth (0x1e079198) and ERC-165.
    function supportsInterface(bytes4 interfaceId) public view override(ERC165, IERC165) returns (bool) {
        return interfaceId == type(IAppAuth).interfaceId || super.supportsInterface(interfaceId);
    }
}
