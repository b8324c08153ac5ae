"""The descriptor set in generated/ carries exactly the 31 REST endpoints of the seed documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "generated" / "pieces.binpb"

# Written from the seed documents (OS, Applications and Backup APIs):
# rpc -> (verb, path, body, response_body, response type, server-streaming, deprecated)
EMPTY = "google.protobuf.Empty"
ENDPOINTS: dict[str, tuple[str, str, str, str, str, bool, bool]] = {
    "OsService.LinkProvider": (
        "post", "/os/link_provider", "seeded_external_provider", "",
        "pieces.v1.ReturnedUserProfile", False, False,
    ),
    "OsService.OsDeviceInformation": (
        "get", "/os/device/information", "", "", "pieces.v1.OSDeviceInformationReturnable",
        False, False,
    ),
    "OsService.OsPermissions": (
        "get", "/os/permissions", "", "", "pieces.v1.OSPermissions", False, False,
    ),
    "OsService.OsPermissionsRequest": (
        "post", "/os/permissions/request", "os_permissions", "", "pieces.v1.OSPermissions",
        False, False,
    ),
    "OsService.OsRestart": ("get", "/os/restart", "", "", EMPTY, False, False),
    "OsService.OsUpdateCheck": (
        "post", "/os/update/check", "unchecked_os_update", "", "pieces.v1.CheckedOSUpdate",
        False, False,
    ),
    "OsService.PickFiles": (
        "post", "/os/files/pick", "file_picker_input", "paths", "pieces.v1.PickFilesResponse",
        False, False,
    ),
    "OsService.PickFolders": (
        "post", "/os/folders/pick", "", "paths", "pieces.v1.PickFoldersResponse", False, False,
    ),
    "OsService.SignIntoOs": ("post", "/os/sign_in", "", "", "pieces.v1.UserProfile", False, False),
    "OsService.SignOutOfOs": ("post", "/os/sign_out", "", "", "pieces.v1.Users", False, False),
    "ApplicationsService.ApplicationsExternalRelated": (
        "get", "/applications/external/related", "", "",
        "pieces.v1.DetectedExternalApplications", False, False,
    ),
    "ApplicationsService.ApplicationsExternalSnapshot": (
        "get", "/applications/external", "", "", "pieces.v1.DetectedExternalApplications",
        False, False,
    ),
    "ApplicationsService.ApplicationsRegister": (
        "post", "/applications/register", "application", "", "pieces.v1.Application",
        False, True,
    ),
    "ApplicationsService.ApplicationsSessionClose": (
        "post", "/applications/session/close", "session", "", "pieces.v1.Session", False, True,
    ),
    "ApplicationsService.ApplicationsSessionOpen": (
        "post", "/applications/session/open", "", "", "pieces.v1.Session", False, True,
    ),
    "ApplicationsService.ApplicationsSessionSnapshot": (
        "get", "/applications/sessions/{session}", "", "", "pieces.v1.Session", False, True,
    ),
    "ApplicationsService.ApplicationsSnapshot": (
        "get", "/applications", "", "", "pieces.v1.Applications", False, False,
    ),
    "ApplicationsService.ApplicationsSpecificApplicationSnapshot": (
        "get", "/applications/{application}", "", "", "pieces.v1.Application", False, False,
    ),
    "ApplicationsService.ApplicationsUsageEngagementInteraction": (
        "post", "/applications/usage/engagement/interaction", "seeded_tracked_interaction_event",
        "", "pieces.v1.TrackedInteractionEvent", False, True,
    ),
    "ApplicationsService.ApplicationsUsageEngagementKeyboard": (
        "post", "/applications/usage/engagement/keyboard", "seeded_tracked_keyboard_event", "",
        "pieces.v1.TrackedKeyboardEvent", False, True,
    ),
    "ApplicationsService.ApplicationsUsageInstallation": (
        "post", "/applications/usage/installation", "tracked_application_install", "", EMPTY,
        False, True,
    ),
    "ApplicationsService.PostApplicationsUsageUpdated": (
        "post", "/applications/usage/updated", "tracked_application_update", "", EMPTY,
        False, True,
    ),
    "BackupService.Backup": ("post", "/backup", "assets", "", EMPTY, False, False),
    "BackupService.BackupAsset": ("post", "/backup/asset", "asset", "", EMPTY, False, False),
    "BackupService.BackupRestoreSpecificBackup": (
        "post", "/backup/{backup}/restore", "body", "", "pieces.v1.Backup", False, False,
    ),
    "BackupService.BackupRestoreSpecificBackupStreamed": (
        "post", "/backup/{backup}/restore/streamed", "body", "",
        "pieces.v1.BackupStreamedProgress", True, False,
    ),
    "BackupService.BackupSpecificBackupSnapshot": (
        "get", "/backup/{backup}", "", "", "pieces.v1.Backup", False, False,
    ),
    "BackupService.BackupSpecificCreationCancel": (
        "post", "/backup/{backup}/creation/cancel", "", "", EMPTY, False, False,
    ),
    "BackupService.BackupSpecificCreationStatus": (
        "get", "/backup/{backup}/creation/status", "", "", "pieces.v1.BackupStatus", False, False,
    ),
    "BackupService.BackupSpecificRestorationCancel": (
        "post", "/backup/{backup}/restoration/cancel", "body", "", EMPTY, False, False,
    ),
    "BackupService.BackupSpecificRestorationStatus": (
        "get", "/backup/{backup}/restoration/status", "", "", "pieces.v1.BackupStatus",
        False, False,
    ),
}  # fmt: skip


def load_methods() -> dict[str, descriptor_pb2.MethodDescriptorProto]:
    file_set = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    methods = {}
    for file in file_set.file:
        if not file.package.startswith("pieces."):
            continue
        for service in file.service:
            for method in service.method:
                methods[f"{service.name}.{method.name}"] = method
    return methods


def test_descriptor_set_holds_exactly_the_31_endpoints() -> None:
    assert len(ENDPOINTS) == 31
    assert sorted(load_methods()) == sorted(ENDPOINTS)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_rpc_matches_seed_endpoint(name: str) -> None:
    verb, path, body, response_body, response, streaming, deprecated = ENDPOINTS[name]
    method = load_methods()[name]
    rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
    assert rule.WhichOneof("pattern") == verb
    assert getattr(rule, verb) == path
    assert rule.body == body
    assert rule.response_body == response_body
    assert not rule.additional_bindings
    assert method.output_type == f".{response}"
    assert method.server_streaming is streaming
    assert not method.client_streaming
    assert method.options.deprecated is deprecated
    request = name.split(".")[1] + "Request"
    assert method.input_type == f".pieces.v1.{request}"


def test_descriptor_set_is_self_contained_with_source_info() -> None:
    file_set = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    names = {f.name for f in file_set.file}
    assert {"google/api/http.proto", "google/protobuf/struct.proto"} <= names
    pool = descriptor_pool.DescriptorPool()
    for file in file_set.file:
        pool.Add(file)
    backup = pool.FindMessageTypeByName("pieces.v1.Backup")
    assert backup.fields_by_name["device_name"].json_name == "device_name"
    os_file = next(f for f in file_set.file if f.name == "pieces/v1/os.proto")
    comments = [loc.leading_comments for loc in os_file.source_code_info.location]
    assert any("Restarts PiecesOS" in c for c in comments)
