"""The control endpoint and the record of what reached the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from gateway.simulator import ROUTES, Simulator

from .conftest import SEEDED_BACKUP, StartSimulator
from .test_os import call
from .wirecheck import sample_application


async def raw_request(sim: Simulator, method: str, target: str) -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalization of the path)."""
    reader, writer = await asyncio.open_connection(sim.config.host, sim.port)
    request = f"{method} {target} HTTP/1.1\r\nHost: pieces\r\nContent-Length: 0\r\n"
    writer.write(request.encode() + b"Connection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def stats(client: aiohttp.ClientSession) -> dict[str, Any]:
    async with client.get("/__simulator__/stats") as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def test_stats_count_requests_per_route(client: aiohttp.ClientSession) -> None:
    for _ in range(3):
        await call(client, "GET", "/applications")
    await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    await call(client, "GET", "/backup/0.0.0_0")
    report = await stats(client)
    assert set(report) == {
        "total",
        "unmatched",
        "routes",
        "requests",
        "requests_dropped",
        "open_connections",
        "connections",
        "streams",
    }
    assert list(report["routes"]) == [route.name for route in ROUTES]
    assert len(report["routes"]) == 31
    assert report["routes"]["GET /applications"] == 3
    assert report["routes"]["GET /backup/{backup}"] == 2
    assert sum(report["routes"].values()) == report["total"] == 5
    assert report["requests"][-2:] == [
        {"method": "GET", "path": f"/backup/{SEEDED_BACKUP}", "route": "GET /backup/{backup}",
         "status": 200},
        {"method": "GET", "path": "/backup/0.0.0_0", "route": "GET /backup/{backup}",
         "status": 500},
    ]  # fmt: skip
    assert report["open_connections"] >= 1
    assert report["connections"] == 1


async def test_control_requests_are_not_counted(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    await stats(client)
    async with client.get("/__simulator__/state"):
        pass
    async with client.get("/__simulator__/nope") as response:
        assert response.status == 404
    assert (await stats(client))["total"] == 0
    assert pieces.stats.total == 0


async def test_unknown_routes_answer_404_and_are_recorded(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("DELETE", "/applications"),
        ("GET", "/os/sign_in"),
        ("POST", "/backup/x/y/z"),
    ):
        status, response, text = await call(client, method, path)
        assert (status, text) == (404, "Route not found")
        assert response.headers["Content-Type"] == "text/plain"
    report = await stats(client)
    assert report["unmatched"] == 4
    assert report["total"] == 4
    assert sum(report["routes"].values()) == 0
    assert [(r["method"], r["path"], r["route"], r["status"]) for r in report["requests"]] == [
        ("GET", "/nope", None, 404),
        ("DELETE", "/applications", None, 404),
        ("GET", "/os/sign_in", None, 404),
        ("POST", "/backup/x/y/z", None, 404),
    ]


@pytest.mark.parametrize(
    ("target", "status", "route"),
    [
        ("/backup/..%2Fos%2Frestart/restore", 500, "POST /backup/{backup}/restore"),
        ("/backup/..%2F..%2Fos%2Frestart", 404, None),
        ("/backup/../os/restart", 404, None),
        ("/applications/..%2F..%2Fos%2Frestart", 500, "GET /applications/{application}"),
    ],
)
async def test_path_injection_never_reaches_another_route(
    pieces: Simulator, target: str, status: int, route: str | None
) -> None:
    method = "GET" if target.startswith("/applications") else "POST"
    answer, _ = await raw_request(pieces, method, target)
    assert answer == status
    assert [(r.path, r.route) for r in pieces.stats.requests] == [(target, route)]
    assert pieces.stats.routes["GET /os/restart"] == 0
    assert pieces.state.restarts == 0


async def test_open_connections_are_reported(pieces: Simulator) -> None:
    connector = aiohttp.TCPConnector(limit=3)
    async with aiohttp.ClientSession(base_url=pieces.url, connector=connector) as client:
        await asyncio.gather(*(call(client, "GET", "/applications") for _ in range(9)))
        assert pieces.stats.open_connections == 3
        assert 1 <= pieces.stats.connections <= 3
    for _ in range(100):
        if pieces.stats.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert pieces.stats.open_connections == 0


async def test_request_log_is_bounded(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(request_log_size=5)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        for index in range(8):
            await call(client, "GET", f"/applications/{index}")
    assert sim.stats.total == 8
    assert sim.stats.requests_dropped == 3
    assert sim.stats.paths() == [f"/applications/{index}" for index in range(3, 8)]


async def test_clear_stats(client: aiohttp.ClientSession, pieces: Simulator) -> None:
    await call(client, "GET", "/applications")
    await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restore/streamed")
    assert len(pieces.stats.streams) == 1
    async with client.delete("/__simulator__/stats") as response:
        assert response.status == 204
    report = await stats(client)
    assert (report["total"], report["requests"], report["streams"]) == (0, [], [])


async def test_stream_records_in_stats(client: aiohttp.ClientSession) -> None:
    await call(client, "POST", f"/backup/{SEEDED_BACKUP}/restore/streamed")
    (stream,) = (await stats(client))["streams"]
    assert stream["backup"] == SEEDED_BACKUP
    assert stream["framing"] == "ndjson"
    assert (stream["messages"], stream["completed"], stream["disconnected"]) == (6, True, False)
    assert stream["disconnected_at"] is None
    assert stream["ended_at"] >= stream["started_at"]


async def test_state_endpoint_changes_settings(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    async with client.get("/__simulator__/state") as response:
        before = await response.json()
    assert before["signed_in"] is True
    assert SEEDED_BACKUP in before["backups"]
    assert len(before["applications"]) == 3
    changes = {"signed_in": False, "too_old": True, "restore_framing": "sse"}
    async with client.post("/__simulator__/state", json=changes) as response:
        assert response.status == 200
        after = await response.json()
    assert {key: after[key] for key in changes} == changes
    assert pieces.state.restore_framing == "sse"
    status, _, _ = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    assert status == 505
    await client.post("/__simulator__/state", json={"too_old": False})
    status, _, _ = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
    assert status == 511
    status, _, _ = await call(client, "POST", "/os/link_provider", {"type": "github"})
    assert status == 401
    await client.post("/__simulator__/state", json={"signed_in": True})
    async with client.post(f"/backup/{SEEDED_BACKUP}/restore/streamed") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert (await response.read()).startswith(b"data: {")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"restore_framing": "xml"}, "restore_framing must be one of"),
        ({"signed_in": "no"}, "signed_in must be a bool"),
        ({"restore_messages": -1}, "must not be negative"),
        ({"platform": "BEOS"}, "platform must be one of"),
        ({"users": 3}, "unknown settings: users"),
    ],
)
async def test_invalid_state_changes_answer_400(
    client: aiohttp.ClientSession, pieces: Simulator, changes: dict[str, Any], message: str
) -> None:
    async with client.post("/__simulator__/state", json=changes) as response:
        assert response.status == 400
        assert response.headers["Content-Type"] == "text/plain"
        assert message in await response.text()
    assert pieces.state.restore_framing == "ndjson"
    assert pieces.state.signed_in is True


async def test_invalid_control_body_answers_400(client: aiohttp.ClientSession) -> None:
    for body in (b"{nope", b"[1]"):
        async with client.post("/__simulator__/state", data=body) as response:
            assert response.status == 400


async def test_reset_returns_to_the_start(client: aiohttp.ClientSession, pieces: Simulator) -> None:
    await call(client, "POST", "/applications/register", sample_application())
    await call(client, "POST", "/os/sign_out")
    await call(client, "POST", "/applications/session/open")
    await client.post("/__simulator__/faults", json={"latency": 0.01})
    async with client.post("/__simulator__/reset") as response:
        assert response.status == 204
    assert pieces.state.signed_in
    assert len(pieces.state.applications) == 3
    assert pieces.state.sessions == {}
    assert not pieces.faults.active
    assert pieces.stats.total == 0
    _, _, listing = await call(client, "GET", "/applications")
    assert len(listing["iterable"]) == 3


async def test_reset_in_process_keeps_configured_faults(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"error_rate": 1.0, "routes": ["GET /applications"]})
    sim.faults.clear()
    await sim.reset()
    assert sim.faults.error_rate == 1.0
    assert sim.faults.routes == frozenset({"GET /applications"})
