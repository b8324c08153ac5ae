"""The nine Backup routes over real HTTP (the streamed restore is in ``test_streaming``)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from pieces_os_client.models.backup import Backup
from pieces_os_client.models.backup_status import BackupStatus

from gateway.simulator import Simulator

from .conftest import SEEDED_BACKUP, StartSimulator
from .sdkcheck import sdk_roundtrip
from .test_os import call
from .wirecheck import check_model, sample_asset, sample_backup

# Routes that answer 505 when PiecesOS is too old and 511 when the user is signed out.
GUARDED = [
    ("POST", "/backup", {"iterable": []}),
    ("POST", "/backup/asset", sample_asset()),
    ("POST", f"/backup/{SEEDED_BACKUP}/restore", sample_backup(SEEDED_BACKUP)),
    ("POST", f"/backup/{SEEDED_BACKUP}/restore/streamed", sample_backup(SEEDED_BACKUP)),
    ("GET", f"/backup/{SEEDED_BACKUP}", None),
]


async def poll_until(
    client: aiohttp.ClientSession, path: str, wanted: str, patience: float = 3.0
) -> list[dict[str, Any]]:
    """Poll a status route until its ``value`` is ``wanted``; answer every status seen."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        status, _, body = await call(client, "GET", path)
        assert status == 200, body
        seen.append(body)
        if body["value"] == wanted:
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"stuck at {body['value']}"
        await asyncio.sleep(0.01)


async def test_get_backup_finds_a_seeded_backup_by_id(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, body = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    assert status == 200
    check_model(reference, "Backup", body)
    sdk_roundtrip(Backup, body)
    assert body["id"] == SEEDED_BACKUP == f"{body['version']}_{body['timestamp']}"
    assert isinstance(body["bytes"], int)
    assert body["device_name"] == "pieces-simulator"
    assert body["created"]["value"] == "2024-05-01T12:00:00.000Z"


async def test_unknown_backup_answers_500_text(client: aiohttp.ClientSession) -> None:
    status, response, body = await call(client, "GET", "/backup/1.0.0_1")
    assert (status, body) == (500, "Backup not found")
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
async def test_signed_out_answers_511(
    client: aiohttp.ClientSession, pieces: Simulator, method: str, path: str, body: Any
) -> None:
    pieces.state.signed_in = False
    status, response, text = await call(client, method, path, body)
    assert (status, text) == (511, "user not signed in")
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
async def test_too_old_answers_505(
    start_simulator: StartSimulator, method: str, path: str, body: Any
) -> None:
    sim = await start_simulator(too_old=True)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        status, response, text = await call(client, method, path, body)
    assert status == 505
    assert response.headers["Content-Type"] == "text/plain"
    assert "too old" in text


async def test_sign_in_restores_backup_access(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    await call(client, "POST", "/os/sign_out")
    status, _, _ = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    assert status == 511
    await call(client, "POST", "/os/sign_in")
    status, _, _ = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    assert status == 200


async def test_creation_advances_to_completed(
    client: aiohttp.ClientSession, pieces: Simulator, reference: dict[str, Any]
) -> None:
    async with client.post("/backup", json={"iterable": [sample_asset()]}) as response:
        assert response.status == 204
        assert await response.read() == b""
        assert "Content-Type" not in response.headers
        backup_id = response.headers["x-pieces-backup-id"]
    assert pieces.state.latest_creation == backup_id
    # Not in the catalog until the creation completes.
    status, _, _ = await call(client, "GET", f"/backup/{backup_id}")
    assert status == 500
    seen = await poll_until(client, f"/backup/{backup_id}/creation/status", "COMPLETED")
    for body in seen:
        check_model(reference, "BackupStatus", body)
        sdk_roundtrip(BackupStatus, body)
        assert body["backup"]["id"] == backup_id
    values = [body["value"] for body in seen]
    assert values[0] == "INITIALIZED"
    assert "IN-PROGRESS" in values
    percentages = [body["percentage"] for body in seen]
    assert percentages == sorted(percentages)
    assert percentages[-1] == 100
    status, _, created = await call(client, "GET", f"/backup/{backup_id}")
    assert status == 200
    assert created["id"] == backup_id
    check_model(reference, "Backup", created)


async def test_backup_asset_starts_a_creation_reachable_as_latest(
    client: aiohttp.ClientSession,
) -> None:
    async with client.post("/backup/asset", json=sample_asset()) as response:
        assert response.status == 204
        backup_id = response.headers["x-pieces-backup-id"]
    status, _, body = await call(client, "GET", "/backup/latest/creation/status")
    assert status == 200
    assert body["backup"]["id"] == backup_id
    assert body["value"] in ("INITIALIZED", "IN-PROGRESS")
    status, _, text = await call(client, "POST", "/backup/asset", {"id": "x"})
    assert status == 400
    assert "missing required key 'creator' of Asset" in text


async def test_creation_cancel(client: aiohttp.ClientSession) -> None:
    async with client.post("/backup") as response:
        backup_id = response.headers["x-pieces-backup-id"]
    async with client.post(f"/backup/{backup_id}/creation/cancel") as response:
        assert response.status == 204
        assert await response.read() == b""
    _, _, body = await call(client, "GET", f"/backup/{backup_id}/creation/status")
    assert body["value"] == "CANCELED"
    await asyncio.sleep(0.1)
    _, _, later = await call(client, "GET", f"/backup/{backup_id}/creation/status")
    assert later == body
    status, response, text = await call(client, "POST", f"/backup/{backup_id}/creation/cancel")
    assert (status, text) == (500, "There is not a backup in progress")
    assert response.headers["Content-Type"] == "text/plain"


async def test_seeded_backups_have_a_completed_creation(client: aiohttp.ClientSession) -> None:
    status, _, body = await call(client, "GET", f"/backup/{SEEDED_BACKUP}/creation/status")
    assert status == 200
    assert (body["value"], body["percentage"]) == ("COMPLETED", 100)
    status, _, text = await call(client, "POST", f"/backup/{SEEDED_BACKUP}/creation/cancel")
    assert (status, text) == (500, "There is not a backup in progress")


@pytest.mark.parametrize("route", ["creation", "restoration"])
async def test_status_of_an_unknown_backup_answers_404(
    client: aiohttp.ClientSession, route: str
) -> None:
    status, response, text = await call(client, "GET", f"/backup/0.0.0_0/{route}/status")
    assert (status, text) == (404, "Backup not found")
    assert response.headers["Content-Type"] == "text/plain"


async def test_cancel_of_an_unknown_backup_answers_500(client: aiohttp.ClientSession) -> None:
    status, _, text = await call(client, "POST", "/backup/0.0.0_0/creation/cancel")
    assert (status, text) == (500, "There is not a backup in progress")
    status, _, text = await call(client, "POST", "/backup/0.0.0_0/restoration/cancel")
    assert (status, text) == (500, "There is not a restore in progress")


async def test_restore_then_status_advances_to_completed(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, text = await call(client, "GET", f"/backup/{SEEDED_BACKUP}/restoration/status")
    assert (status, text) == (404, "No restoration of this backup")
    path = f"/backup/{SEEDED_BACKUP}/restore"
    status, _, body = await call(client, "POST", path, sample_backup(SEEDED_BACKUP))
    assert status == 200
    check_model(reference, "Backup", body)
    sdk_roundtrip(Backup, body)
    assert body["id"] == SEEDED_BACKUP
    seen = await poll_until(client, f"/backup/{SEEDED_BACKUP}/restoration/status", "COMPLETED")
    for status_body in seen:
        check_model(reference, "BackupStatus", status_body)
    assert seen[0]["value"] in ("INITIALIZED", "IN-PROGRESS")
    status, _, text = await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restoration/cancel")
    assert (status, text) == (500, "There is not a restore in progress")


async def test_restore_of_an_unknown_backup_answers_500(client: aiohttp.ClientSession) -> None:
    status, _, text = await call(client, "POST", "/backup/0.0.0_0/restore")
    assert (status, text) == (500, "Backup not found")


async def test_restore_rejects_an_invalid_backup_body(client: aiohttp.ClientSession) -> None:
    body = sample_backup(SEEDED_BACKUP)
    body["deviceName"] = body.pop("device_name")
    status, _, text = await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restore", body)
    assert status == 400
    assert "missing required key 'device_name' of Backup" in text
    body = {**sample_backup(SEEDED_BACKUP), "bytes": "1024"}
    status, _, text = await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restore", body)
    assert status == 400
    assert "expected a number" in text


async def test_restoration_cancel(client: aiohttp.ClientSession) -> None:
    backup = sample_backup(SEEDED_BACKUP)
    await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restore", backup)
    async with client.post(f"/backup/{SEEDED_BACKUP}/restoration/cancel", json=backup) as response:
        assert response.status == 204
        assert await response.read() == b""
    _, _, body = await call(client, "GET", "/backup/latest/restoration/status")
    assert body["value"] == "CANCELED"
    assert body["backup"]["id"] == SEEDED_BACKUP
