"""One successful call to each of the 31 routes, with the answer every user would check."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.simulator import ROUTES, Simulator

from .conftest import SEEDED_BACKUP
from .wirecheck import check_model, sample_application, sample_asset, sample_backup

# (method, path, JSON body or raw bytes, expected status, answer model or None for no body)
TOUR: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/os/link_provider", {"type": "github"}, 200, "ReturnedUserProfile"),
    ("GET", "/os/device/information", None, 200, "OSDeviceInformationReturnable"),
    ("GET", "/os/permissions", None, 200, "OSPermissions"),
    ("POST", "/os/permissions/request", {"processing": {"vision": True}}, 200, "OSPermissions"),
    ("GET", "/os/restart", None, 204, None),
    ("POST", "/os/update/check", {}, 200, "CheckedOSUpdate"),
    ("POST", "/os/files/pick", {"allowedExtensions": ["py"]}, 200, "array<string>"),
    ("POST", "/os/folders/pick", None, 200, "array<string>"),
    ("POST", "/os/sign_out", None, 200, "Users"),
    ("POST", "/os/sign_in", None, 200, "UserProfile"),
    ("GET", "/applications/external/related", None, 200, "DetectedExternalApplications"),
    ("GET", "/applications/external", None, 200, "DetectedExternalApplications"),
    ("POST", "/applications/register", sample_application(), 200, "Application"),
    ("POST", "/applications/session/open", None, 200, "Session"),
    ("GET", "/applications/sessions/{session}", None, 200, "Session"),
    ("POST", "/applications/session/close", "{session}", 200, "Session"),
    ("GET", "/applications", None, 200, "Applications"),
    ("GET", f"/applications/{sample_application()['id']}", None, 200, "Application"),
    (
        "POST",
        "/applications/usage/engagement/interaction",
        {"description": "clicked", "element": "button"},
        200,
        "TrackedInteractionEvent",
    ),
    (
        "POST",
        "/applications/usage/engagement/keyboard",
        {"description": "refresh", "shortcut": [91, 82]},
        200,
        "TrackedKeyboardEvent",
    ),
    (
        "POST",
        "/applications/usage/installation",
        {"application": sample_application()},
        200,
        None,
    ),
    ("POST", "/applications/usage/updated", {"current": sample_application()}, 200, None),
    ("POST", "/backup", {"iterable": [sample_asset()]}, 204, None),
    ("POST", "/backup/asset", sample_asset(), 204, None),
    ("GET", "/backup/latest/creation/status", None, 200, "BackupStatus"),
    ("POST", "/backup/latest/creation/cancel", None, 204, None),
    ("GET", f"/backup/{SEEDED_BACKUP}", None, 200, "Backup"),
    ("POST", f"/backup/{SEEDED_BACKUP}/restore", sample_backup(SEEDED_BACKUP), 200, "Backup"),
    ("GET", f"/backup/{SEEDED_BACKUP}/restoration/status", None, 200, "BackupStatus"),
    ("POST", f"/backup/{SEEDED_BACKUP}/restoration/cancel", None, 204, None),
    ("POST", f"/backup/{SEEDED_BACKUP}/restore/streamed", None, 200, "ndjson"),
]


async def test_every_route_answers_the_documented_success(
    client: aiohttp.ClientSession, pieces: Simulator, reference: dict[str, Any]
) -> None:
    session = ""
    for method, template, body, status, model in TOUR:
        path = template.replace("{session}", session)
        if isinstance(body, str):
            kwargs: dict[str, Any] = {"data": f'"{session}"'.encode()}
        else:
            kwargs = {"json": body} if body is not None else {}
        async with client.request(method, path, **kwargs) as response:
            raw = await response.read()
            assert response.status == status, f"{method} {path}: {raw!r}"
            if model is None:
                assert raw == b""
                assert "Content-Type" not in response.headers
                continue
            if model == "ndjson":
                assert raw.count(b"\n") == 6
                continue
            assert response.headers["Content-Type"] == "application/json"
            answer = await response.json()
        if model == "array<string>":
            assert answer
            assert all(isinstance(p, str) and p.startswith("/") for p in answer)
        else:
            check_model(reference, model, answer)
        if model == "Session":
            session = answer["id"]
    # Each of the 31 routes was reached exactly once, and nothing else was.
    assert len(ROUTES) == len(TOUR) == 31
    assert set(pieces.stats.routes.values()) == {1}
    assert pieces.stats.unmatched == 0
