"""Every RPC of the contract, through a real gateway in front of the real simulator."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import empty_pb2

from gateway.simulator import Simulator
from pieces.v1 import applications_pb2, backup_pb2, models_pb2, os_pb2
from tests.conftest import Stubs

SESSION_ID = "11111111-1111-1111-1111-111111111111"


def first_backup_id(sim: Simulator) -> str:
    return next(iter(sim.state.backups))


async def backup_message(stubs: Stubs, backup_id: str) -> models_pb2.Backup:
    return await stubs.backup.BackupSpecificBackupSnapshot(
        backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
    )


def minimal_asset() -> models_pb2.Asset:
    """An asset with every key PiecesOS requires."""
    stamp = models_pb2.GroupedTimestamp()
    stamp.value.FromJsonString("2024-05-01T12:00:00.000Z")
    original = models_pb2.ReferencedFormat(id="format-1")
    return models_pb2.Asset(
        id="asset-1",
        creator="me",
        created=stamp,
        updated=stamp,
        formats=models_pb2.Formats(),
        preview=models_pb2.Preview(base=original),
        original=original,
        mechanism=models_pb2.MECHANISM_ENUM_MANUAL,
    )


# --- OS ---------------------------------------------------------------------------------------


async def test_os_device_information(stubs: Stubs, sim: Simulator) -> None:
    info = await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest())
    assert info.name
    assert info.version
    assert sim.stats.routes["GET /os/device/information"] == 1


async def test_os_permissions_and_request(stubs: Stubs, sim: Simulator) -> None:
    sim.state.platform = "MACOS"
    before = await stubs.os.OsPermissions(os_pb2.OsPermissionsRequest())
    assert before.processing.vision is False
    wanted = models_pb2.OSPermissions(
        processing=models_pb2.OSProcessingPermissions(vision=True, accessibility=True)
    )
    after = await stubs.os.OsPermissionsRequest(
        os_pb2.OsPermissionsRequestRequest(os_permissions=wanted)
    )
    assert after.processing.vision is True
    assert after.processing.accessibility is True


async def test_os_permissions_on_linux_is_internal(stubs: Stubs, sim: Simulator) -> None:
    sim.state.platform = "LINUX"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.os.OsPermissions(os_pb2.OsPermissionsRequest())
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert "only available on macOS and Windows" in (caught.value.details() or "")


async def test_os_restart_answers_empty(stubs: Stubs, sim: Simulator) -> None:
    answer = await stubs.os.OsRestart(os_pb2.OsRestartRequest())
    assert answer == empty_pb2.Empty()
    assert sim.state.restarts == 1


async def test_os_update_check_with_and_without_body(stubs: Stubs, sim: Simulator) -> None:
    checked = await stubs.os.OsUpdateCheck(os_pb2.OsUpdateCheckRequest())
    assert checked.status != models_pb2.UPDATING_STATUS_ENUM_UNSPECIFIED
    checked = await stubs.os.OsUpdateCheck(
        os_pb2.OsUpdateCheckRequest(unchecked_os_update=models_pb2.UncheckedOSUpdate())
    )
    assert checked.status != models_pb2.UPDATING_STATUS_ENUM_UNSPECIFIED


async def test_pick_files_and_folders_answer_absolute_paths(stubs: Stubs) -> None:
    files = await stubs.os.PickFiles(
        os_pb2.PickFilesRequest(
            file_picker_input=models_pb2.FilePickerInput(allowed_extensions=["py"])
        )
    )
    assert files.paths
    assert all(path.startswith("/") or path[1:3] == ":\\" for path in files.paths)
    folders = await stubs.os.PickFolders(os_pb2.PickFoldersRequest())
    assert folders.paths


async def test_sign_out_sign_in_and_link_provider(stubs: Stubs, sim: Simulator) -> None:
    users = await stubs.os.SignOutOfOs(os_pb2.SignOutOfOsRequest())
    assert isinstance(users, models_pb2.Users)
    assert sim.state.signed_in is False
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.os.LinkProvider(
            os_pb2.LinkProviderRequest(
                seeded_external_provider=models_pb2.SeededExternalProvider(
                    type=models_pb2.EXTERNAL_PROVIDER_TYPE_ENUM_GITHUB
                )
            )
        )
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    profile = await stubs.os.SignIntoOs(os_pb2.SignIntoOsRequest())
    assert profile.id
    linked = await stubs.os.LinkProvider(
        os_pb2.LinkProviderRequest(
            seeded_external_provider=models_pb2.SeededExternalProvider(
                type=models_pb2.EXTERNAL_PROVIDER_TYPE_ENUM_GOOGLE_OAUTH2
            )
        )
    )
    kinds = [p.type for p in linked.user.providers.iterable]
    assert models_pb2.EXTERNAL_PROVIDER_TYPE_ENUM_GOOGLE_OAUTH2 in kinds


# --- Applications -----------------------------------------------------------------------------


async def test_external_applications(stubs: Stubs) -> None:
    related = await stubs.applications.ApplicationsExternalRelated(
        applications_pb2.ApplicationsExternalRelatedRequest()
    )
    detected = await stubs.applications.ApplicationsExternalSnapshot(
        applications_pb2.ApplicationsExternalSnapshotRequest()
    )
    assert related.iterable
    assert detected.iterable


async def test_register_list_and_get_application(stubs: Stubs, sim: Simulator) -> None:
    app = models_pb2.Application(
        id="b6c5b8b4-0000-4000-8000-000000000001",
        name=models_pb2.APPLICATION_NAME_ENUM_VS_CODE,
        version="1.2.3",
        platform=models_pb2.PLATFORM_ENUM_LINUX,
        onboarded=False,
        privacy=models_pb2.PRIVACY_ENUM_OPEN,
        automatic_unload=False,
    )
    stored = await stubs.applications.ApplicationsRegister(
        applications_pb2.ApplicationsRegisterRequest(application=app)
    )
    assert stored == app
    # Required false booleans and present optional ones reached the wire as JSON false.
    assert sim.state.applications[app.id]["onboarded"] is False
    assert sim.state.applications[app.id]["automaticUnload"] is False
    listed = await stubs.applications.ApplicationsSnapshot(
        applications_pb2.ApplicationsSnapshotRequest()
    )
    assert app.id in [a.id for a in listed.iterable]
    fetched = await stubs.applications.ApplicationsSpecificApplicationSnapshot(
        applications_pb2.ApplicationsSpecificApplicationSnapshotRequest(application=app.id)
    )
    assert fetched == app


async def test_sessions_open_snapshot_close(stubs: Stubs, sim: Simulator) -> None:
    opened = await stubs.applications.ApplicationsSessionOpen(
        applications_pb2.ApplicationsSessionOpenRequest()
    )
    assert len(opened.id) == 36
    assert opened.opened.value.seconds > 0
    assert not opened.HasField("closed")
    snapshot = await stubs.applications.ApplicationsSessionSnapshot(
        applications_pb2.ApplicationsSessionSnapshotRequest(session=opened.id)
    )
    assert snapshot.id == opened.id
    closed = await stubs.applications.ApplicationsSessionClose(
        applications_pb2.ApplicationsSessionCloseRequest(session=opened.id)
    )
    assert closed.id == opened.id
    assert closed.HasField("closed")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.applications.ApplicationsSessionClose(
            applications_pb2.ApplicationsSessionCloseRequest(session=SESSION_ID)
        )
    assert caught.value.code() is grpc.StatusCode.INTERNAL


async def test_usage_tracking(stubs: Stubs, sim: Simulator) -> None:
    interaction = await stubs.applications.ApplicationsUsageEngagementInteraction(
        applications_pb2.ApplicationsUsageEngagementInteractionRequest(
            seeded_tracked_interaction_event=models_pb2.SeededTrackedInteractionEvent(
                description="refreshed", element="button"
            )
        )
    )
    assert interaction.description == "refreshed"
    keyboard = await stubs.applications.ApplicationsUsageEngagementKeyboard(
        applications_pb2.ApplicationsUsageEngagementKeyboardRequest(
            seeded_tracked_keyboard_event=models_pb2.SeededTrackedKeyboardEvent(
                description="save", shortcut=[17, 83]
            )
        )
    )
    assert list(keyboard.shortcut) == [17, 83]
    app = (
        await stubs.applications.ApplicationsSnapshot(
            applications_pb2.ApplicationsSnapshotRequest()
        )
    ).iterable[0]
    installed = await stubs.applications.ApplicationsUsageInstallation(
        applications_pb2.ApplicationsUsageInstallationRequest(
            tracked_application_install=models_pb2.TrackedApplicationInstall(application=app)
        )
    )
    updated = await stubs.applications.PostApplicationsUsageUpdated(
        applications_pb2.PostApplicationsUsageUpdatedRequest(
            tracked_application_update=models_pb2.TrackedApplicationUpdate(current=app)
        )
    )
    assert installed == empty_pb2.Empty()
    assert updated == empty_pb2.Empty()
    assert sim.state.tracked_events == 4


# --- Backup -----------------------------------------------------------------------------------


async def test_backup_snapshot_keeps_wire_fields(stubs: Stubs, sim: Simulator) -> None:
    backup_id = first_backup_id(sim)
    backup = await backup_message(stubs, backup_id)
    wire = sim.state.backups[backup_id]
    assert backup.id == backup_id
    assert backup.device_name == wire["device_name"]
    assert backup.bytes == wire["bytes"]
    assert backup.created.value.ToJsonString().rstrip("Z").startswith(wire["created"]["value"][:19])
    assert models_pb2.PlatformEnum.Name(backup.platform) == f"PLATFORM_ENUM_{wire['platform']}"


async def test_backup_creation_status_and_cancel(stubs: Stubs, sim: Simulator) -> None:
    await stubs.backup.Backup(backup_pb2.BackupRequest(assets=models_pb2.Assets()))
    created = sim.state.latest_creation
    assert created is not None
    status = await stubs.backup.BackupSpecificCreationStatus(
        backup_pb2.BackupSpecificCreationStatusRequest(backup=created)
    )
    assert status.backup.id == created
    await stubs.backup.BackupSpecificCreationCancel(
        backup_pb2.BackupSpecificCreationCancelRequest(backup=created)
    )
    status = await stubs.backup.BackupSpecificCreationStatus(
        backup_pb2.BackupSpecificCreationStatusRequest(backup=created)
    )
    assert status.value == models_pb2.BACKUP_STATUS_ENUM_CANCELED
    await stubs.backup.BackupAsset(backup_pb2.BackupAssetRequest(asset=minimal_asset()))
    assert sim.state.latest_creation not in (None, created)


async def test_restore_restoration_status_and_cancel(stubs: Stubs, sim: Simulator) -> None:
    backup_id = first_backup_id(sim)
    backup = await backup_message(stubs, backup_id)
    restored = await stubs.backup.BackupRestoreSpecificBackup(
        backup_pb2.BackupRestoreSpecificBackupRequest(backup=backup_id, body=backup)
    )
    assert restored.id == backup_id
    status = await stubs.backup.BackupSpecificRestorationStatus(
        backup_pb2.BackupSpecificRestorationStatusRequest(backup=backup_id)
    )
    assert status.backup.id == backup_id
    assert status.value != models_pb2.BACKUP_STATUS_ENUM_UNSPECIFIED
    if status.value == models_pb2.BACKUP_STATUS_ENUM_IN_PROGRESS:
        await stubs.backup.BackupSpecificRestorationCancel(
            backup_pb2.BackupSpecificRestorationCancelRequest(backup=backup_id, body=backup)
        )


async def test_unknown_backup_status_is_not_found(stubs: Stubs) -> None:
    for call in (
        stubs.backup.BackupSpecificCreationStatus(
            backup_pb2.BackupSpecificCreationStatusRequest(backup="no-such-backup")
        ),
        stubs.backup.BackupSpecificRestorationStatus(
            backup_pb2.BackupSpecificRestorationStatusRequest(backup="no-such-backup")
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_cancel_with_nothing_in_progress_is_internal(stubs: Stubs, sim: Simulator) -> None:
    backup_id = first_backup_id(sim)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.backup.BackupSpecificCreationCancel(
            backup_pb2.BackupSpecificCreationCancelRequest(backup=backup_id)
        )
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    backup = await backup_message(stubs, backup_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.backup.BackupSpecificRestorationCancel(
            backup_pb2.BackupSpecificRestorationCancelRequest(backup=backup_id, body=backup)
        )
    assert caught.value.code() is grpc.StatusCode.INTERNAL


async def test_streamed_restore_delivers_every_progress_message(
    stubs: Stubs, sim: Simulator
) -> None:
    backup_id = first_backup_id(sim)
    backup = await backup_message(stubs, backup_id)
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(
        backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup_id, body=backup)
    )
    messages = [message async for message in call]
    statuses = [m.status for m in messages]
    assert statuses[0] == models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_INITIALIZED
    assert statuses[-1] == models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED
    assert messages[-1].backup.id == backup_id
    assert sim.stats.streams[-1].messages == len(messages)
    assert await call.code() is grpc.StatusCode.OK
