"""Wire conventions of PiecesOS: headers, timestamps, schema stamps and enum strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

SCHEMA: Final[dict[str, Any]] = {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"}
"""The ``EmbeddedModelSchema`` stamped on every model that has a ``schema`` field."""

_COMMON_HEADERS: Final = (
    ("x-powered-by", "Dart with package:shelf"),
    ("access-control-allow-origin", "*"),
    ("access-control-allow-headers", "*"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-xss-protection", "1; mode=block"),
    ("x-content-type-options", "nosniff"),
)


def _headers(*extra: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict([*_COMMON_HEADERS, *extra]))


BARE_HEADERS: Final = _headers()
"""Headers of answers without a body."""
JSON_HEADERS: Final = _headers(("Content-Type", "application/json"))
TEXT_HEADERS: Final = _headers(("Content-Type", "text/plain"))
NDJSON_HEADERS: Final = _headers(("Content-Type", "application/x-ndjson"))
SSE_HEADERS: Final = _headers(("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"))

PLATFORMS: Final = frozenset(
    ("WEB", "MACOS", "LINUX", "WINDOWS", "FUCHSIA", "IOS", "ANDROID", "UNKNOWN")
)
APPLICATION_NAMES: Final = frozenset(
    (
        "SUBLIME", "VS_CODE", "JETBRAINS", "FIREFOX_ADDON_MV2", "FIREFOX_ADDON_MV3",
        "SAFARI_EXTENSION_MV2", "SAFARI_EXTENSION_MV3", "PIECES_FOR_DEVELOPERS",
        "PIECES_FOR_DEVELOPERS_CLI", "OS_SERVER", "GOOGLE_CHROME_EXTENSION_MV2",
        "GOOGLE_CHROME_EXTENSION_MV3", "ULTRA_EDIT", "ATOM_PACKAGE",
        "ADOBE_ILLUSTRATOR_PIECES_COLOR_SHARE", "MICROSOFT_TEAMS", "CHAT_GPT", "OBSIDIAN",
        "JUPYTER_HUB", "VISUAL_STUDIO", "MICROSOFT_EDGE", "BRAVE", "GOOGLE_CHAT", "SLACK",
        "AZURE_DATA_STUDIO", "OPEN_SOURCE", "R_STUDIO", "VIM", "NOTION", "GITHUB_DESKTOP",
        "RAYCAST", "REPLIT", "ALFRED", "FIGMA", "SKETCH", "ADOBE_ILLUSTRATOR",
        "NOTEPAD_PLUS_PLUS", "UNKNOWN",
        # Added by the 5.0.1 SDK.
        "EMBEETLE", "ECLIPSE", "X_CODE", "NETBEANS", "OPERA", "PIECES_SAVED_MATERIALS_APPLET",
        "PIECES_SETTINGS_APPLET", "PIECES_WORKSTREAM_ACTIVITY_APPLET",
        "PIECES_OS_TOOLBAR_APPLET", "PIECES_COPILOT_APPLET", "MCP_CLIENT",
    )
)  # fmt: skip
PRIVACIES: Final = frozenset(("OPEN", "CLOSED", "ANONYMOUS", "UNKNOWN"))
CAPABILITIES: Final = frozenset(("LOCAL", "CLOUD", "BLENDED", "UNKNOWN"))
MECHANISMS: Final = frozenset(
    ("MANUAL", "RECOMMENDED", "AUTOMATIC", "INTERNAL", "DELETED", "UNKNOWN", "EXTERNAL_AGENT")
)
EXTERNAL_PROVIDER_TYPES: Final = frozenset(
    (
        "github", "auth0", "google-oauth2", "bitbucket", "linkedin", "twitter", "facebook",
        "waad", "UNKNOWN", "discord", "gitlab", "apple", "username_email", "slack", "microsoft",
    )
)  # fmt: skip
UPDATING_STATUSES: Final = frozenset(
    (
        "READY_TO_RESTART", "AVAILABLE", "DOWNLOADING", "UNKNOWN", "UP_TO_DATE",
        "REINSTALL_REQUIRED", "CONTACT_SUPPORT", "UPDATE_VIA_MICROSOFT_STORE",
    )
)  # fmt: skip
SEMANTIC_VERSIONS: Final = frozenset(("MAJOR_0_MINOR_0_PATCH_1", "UNKNOWN"))
GRANULARITIES: Final = frozenset(("DEVICE", "ACCOUNT", "ANONYMOUS"))

INITIALIZED: Final = "INITIALIZED"
IN_PROGRESS: Final = "IN-PROGRESS"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELED: Final = "CANCELED"
UNKNOWN: Final = "UNKNOWN"


def dumps(value: Any) -> bytes:
    """Serialize ``value`` as compact JSON bytes."""
    return orjson.dumps(value)


def dart_timestamp(moment: datetime) -> str:
    """Format ``moment`` the way Dart's ``toUtc().toIso8601String()`` does (``…000Z``)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def readable(moment: datetime) -> str:
    """A human form such as ``"May 1st, 2024, 12:00 p.m."`` (UTC)."""
    utc = moment.astimezone(UTC)
    hour = utc.hour % 12 or 12
    meridiem = "a.m." if utc.hour < 12 else "p.m."
    return f"{utc:%B} {_ordinal(utc.day)}, {utc.year}, {hour}:{utc:%M} {meridiem}"


def grouped_timestamp(moment: datetime) -> dict[str, Any]:
    """A ``GroupedTimestamp`` for ``moment``."""
    return {"schema": SCHEMA, "value": dart_timestamp(moment), "readable": readable(moment)}


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
