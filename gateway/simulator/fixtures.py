"""Builders of the seeded PiecesOS data, as wire-exact JSON-ready dicts."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gateway.simulator.wire import SCHEMA, grouped_timestamp

EPOCH: Final = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
"""The moment the seeded data is dated from."""
NAMESPACE: Final = uuid.UUID("5e1e7a70-93c2-4a7e-9d43-61a5c0ffee00")
USER_ID: Final = "auth0|6630a1b2c3d4e5f601234567"

_APPLICATION_NAMES: Final = (
    "VS_CODE", "JETBRAINS", "PIECES_FOR_DEVELOPERS", "GOOGLE_CHROME_EXTENSION_MV3", "OBSIDIAN",
    "SUBLIME", "VIM", "PIECES_FOR_DEVELOPERS_CLI", "MICROSOFT_TEAMS", "JUPYTER_HUB",
)  # fmt: skip
_PRIVACIES: Final = ("OPEN", "CLOSED", "ANONYMOUS")
_CAPABILITIES: Final = ("BLENDED", "LOCAL", "CLOUD")
_BACKUP_VERSIONS: Final = ("9.0.2", "8.10.6", "8.4.1", "7.2.0", "6.3.5")
_BACKUP_PLATFORMS: Final = ("MACOS", "WINDOWS", "LINUX")
_DEVICES: Final = ("pieces-simulator", "studio-workstation", "travel-laptop")

_EXTERNAL_APPLICATIONS: Final = (
    ("Visual Studio Code", "1.89.1", True),
    ("IntelliJ IDEA", "2024.1.1", True),
    ("Google Chrome", "124.0.6367.119", True),
    ("Obsidian", "1.5.12", True),
    ("Sublime Text", "4.169", False),
    ("Slack", "4.38.125", False),
)


def stable_uuid(name: str) -> str:
    """A uuid derived from ``name``: the same on every run."""
    return str(uuid.uuid5(NAMESPACE, name))


def application(index: int, platform: str) -> dict[str, Any]:
    """The ``index``-th seeded registered ``Application``."""
    return {
        "schema": SCHEMA,
        "id": stable_uuid(f"application-{index}"),
        "name": _APPLICATION_NAMES[index % len(_APPLICATION_NAMES)],
        "version": f"{1 + index // 10}.{index % 10}.0",
        "platform": platform,
        "onboarded": index % 2 == 0,
        "privacy": _PRIVACIES[index % len(_PRIVACIES)],
        "capabilities": _CAPABILITIES[index % len(_CAPABILITIES)],
        "mechanism": "MANUAL",
        "automaticUnload": False,
    }


def backup(
    version: str, created: datetime, size: int | float, device_name: str, platform: str
) -> dict[str, Any]:
    """A ``Backup`` whose id is ``{version}_{timestamp}`` (timestamp in epoch milliseconds)."""
    timestamp = str(int(created.timestamp() * 1000))
    return {
        "schema": SCHEMA,
        "id": f"{version}_{timestamp}",
        "version": version,
        "timestamp": timestamp,
        "bytes": size,
        "created": grouped_timestamp(created),
        "device_name": device_name,
        "platform": platform,
    }


def seeded_backup(index: int) -> dict[str, Any]:
    """The ``index``-th backup of the seeded catalog, one week older than the previous one."""
    return backup(
        version=_BACKUP_VERSIONS[index % len(_BACKUP_VERSIONS)],
        created=EPOCH - timedelta(days=7 * index, hours=3 * index),
        size=52_428_800 + 7_340_032 * index,
        device_name=_DEVICES[index % len(_DEVICES)],
        platform=_BACKUP_PLATFORMS[index % len(_BACKUP_PLATFORMS)],
    )


def user_profile() -> dict[str, Any]:
    """The ``UserProfile`` of the signed-in user (no linked providers yet)."""
    stamp = grouped_timestamp(EPOCH - timedelta(days=120))
    return {
        "schema": SCHEMA,
        "id": USER_ID,
        "picture": "https://avatars.githubusercontent.com/u/1?v=4",
        "email": "ada@pieces.app",
        "created": stamp,
        "updated": grouped_timestamp(EPOCH),
        "username": "ada",
        "name": "Ada Lovelace",
        "vanityname": "ada",
        "aesthetics": {
            "schema": SCHEMA,
            "theme": {"schema": SCHEMA, "dark": False},
            "font": {"schema": SCHEMA, "size": 12},
        },
        "allocation": {
            "schema": SCHEMA,
            "id": stable_uuid("allocation"),
            "user": USER_ID,
            "urls": {
                "schema": SCHEMA,
                "base": {"schema": SCHEMA, "status": "RUNNING", "url": "https://ada.pieces.cloud"},
                "id": {
                    "schema": SCHEMA,
                    "status": "RUNNING",
                    "url": f"https://{stable_uuid('allocation')}.pieces.cloud",
                },
            },
            "status": {"schema": SCHEMA, "cloud": "RUNNING"},
            "project": "pieces-simulator",
            "region": "us-central1",
            "version": "9.0.2",
            "updated": grouped_timestamp(EPOCH),
        },
        "providers": {"schema": SCHEMA, "iterable": []},
        "auth0": {"schema": SCHEMA, "global_id": stable_uuid("global-user"), "vanityname": "ada"},
    }


def external_provider(kind: str, moment: datetime) -> dict[str, Any]:
    """An ``ExternalProvider`` of type ``kind`` linked at ``moment``."""
    stamp = grouped_timestamp(moment)
    return {
        "schema": SCHEMA,
        "type": kind,
        "user_id": f"{kind}|{zlib.crc32(kind.encode()) % 10_000_000}",
        "created": stamp,
        "updated": stamp,
        "connection": kind,
        "isSocial": True,
    }


def device_information(os_version: str) -> dict[str, Any]:
    """An ``OSDeviceInformationReturnable`` (shape of the 2.2.0 API)."""
    return {
        "schema": SCHEMA,
        "dependencies": {"schema": SCHEMA, "vulkan": True},
        "name": "pieces-simulator",
        "version": os_version,
        "hardware": {
            "schema": SCHEMA,
            "cpu": {"schema": SCHEMA, "name": "Apple M2 Pro", "memory": 34_359_738_368},
            "gpu": {
                "schema": SCHEMA,
                "name": "Apple M2 Pro",
                "memory": 34_359_738_368,
                "capabilities": {"schema": SCHEMA, "llm": True},
            },
        },
    }


def external_applications(related_only: bool) -> dict[str, Any]:
    """``DetectedExternalApplications``: installed ones, or only those Pieces integrates with."""
    return {
        "schema": SCHEMA,
        "iterable": [
            {"schema": SCHEMA, "name": name, "version": version}
            for name, version, related in _EXTERNAL_APPLICATIONS
            if related or not related_only
        ],
    }


def permissions(vision: bool, accessibility: bool) -> dict[str, Any]:
    """An ``OSPermissions``."""
    return {
        "schema": SCHEMA,
        "processing": {"schema": SCHEMA, "vision": vision, "accessibility": accessibility},
    }


def home_directory(platform: str) -> str:
    """The simulated user's home directory on ``platform``."""
    if platform == "WINDOWS":
        return "C:\\Users\\ada"
    if platform == "LINUX":
        return "/home/ada"
    return "/Users/ada"


def picked_files(platform: str, extensions: list[str]) -> list[str]:
    """Absolute paths of files "picked" by the user, one per allowed extension (or two files)."""
    home = home_directory(platform)
    sep = "\\" if platform == "WINDOWS" else "/"
    suffixes = [e.lstrip(".") for e in extensions if e.strip(".")] or ["py", "md"]
    return [sep.join((home, "Documents", f"snippet-{i + 1}.{s}")) for i, s in enumerate(suffixes)]


def picked_folders(platform: str) -> list[str]:
    """Absolute paths of folders "picked" by the user."""
    home = home_directory(platform)
    sep = "\\" if platform == "WINDOWS" else "/"
    return [sep.join((home, "Projects", "pieces-demo"))]


def session(session_id: str, opened: datetime, closed: datetime | None) -> dict[str, Any]:
    """A ``Session`` (the one model here without a ``schema`` field)."""
    body: dict[str, Any] = {"id": session_id, "opened": grouped_timestamp(opened)}
    if closed is not None:
        body["closed"] = grouped_timestamp(closed)
    return body


def progress(status: str, percentage: float, backup: dict[str, Any] | None) -> dict[str, Any]:
    """A ``BackupStreamedProgress``."""
    body: dict[str, Any] = {"schema": SCHEMA, "status": status, "percentage": percentage}
    if backup is not None:
        body["backup"] = backup
    return body


def backup_status(status: str, percentage: float, backup: dict[str, Any]) -> dict[str, Any]:
    """A ``BackupStatus`` (its status is in ``value``)."""
    return {"schema": SCHEMA, "value": status, "percentage": percentage, "backup": backup}
