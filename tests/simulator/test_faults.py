"""Every fault knob, set in the configuration, in-process and through the control endpoint."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from gateway.simulator import FRAMINGS, Simulator

from .conftest import SEEDED_BACKUP, StartSimulator
from .streams import decode, objects
from .test_os import call

STREAM = f"/backup/{SEEDED_BACKUP}/restore/streamed"
STREAMING = [f for f in FRAMINGS if f != "single"]


async def read_partial(response: aiohttp.ClientResponse) -> tuple[bytes, Exception | None]:
    """The body bytes received before the answer ended, and the error that ended it, if any."""
    data = b""
    try:
        async for part in response.content.iter_any():
            data += part
    except aiohttp.ClientPayloadError as exc:
        return data, exc
    return data, None


async def test_latency_delays_answers(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"latency": 0.15, "routes": ["GET /applications"]})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        started = time.monotonic()
        status, _, _ = await call(client, "GET", "/applications")
        slow = time.monotonic() - started
        started = time.monotonic()
        await call(client, "GET", "/os/permissions")
        fast = time.monotonic() - started
    assert status == 200
    assert slow >= 0.15
    assert fast < 0.1


async def test_error_rate_one_answers_the_configured_error(
    start_simulator: StartSimulator,
) -> None:
    faults = {"error_rate": 1.0, "error_status": 503, "error_text": "Service Unavailable"}
    sim = await start_simulator(faults=faults)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        for method, path in (("GET", "/applications"), ("POST", "/os/sign_out"), ("POST", STREAM)):
            status, response, text = await call(client, method, path)
            assert (status, text) == (503, "Service Unavailable")
            assert response.headers["Content-Type"] == "text/plain"
    # The injected errors hid the real answers: the user is still signed in, nothing streamed.
    assert sim.state.signed_in
    assert sim.stats.streams == []
    assert [r.status for r in sim.stats.requests] == [503, 503, 503]


async def test_error_rate_is_a_seeded_share(start_simulator: StartSimulator) -> None:
    outcomes: list[list[int]] = []
    for _ in range(2):
        sim = await start_simulator(faults={"error_rate": 0.5, "seed": 7})
        async with aiohttp.ClientSession(base_url=sim.url) as client:
            statuses = [(await call(client, "GET", "/os/permissions"))[0] for _ in range(60)]
        outcomes.append(statuses)
        assert set(statuses) == {200, 500}
        assert 15 <= statuses.count(500) <= 45
    assert outcomes[0] == outcomes[1]


async def test_malformed_json_bodies(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"malformed_json": True})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        for path in ("/applications", "/os/device/information", f"/backup/{SEEDED_BACKUP}"):
            async with client.get(path) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/json"
                body = await response.read()
            assert len(body) == int(response.headers["Content-Length"])
            with pytest.raises(json.JSONDecodeError):
                json.loads(body)
        async with client.post("/os/files/pick") as response:
            with pytest.raises(json.JSONDecodeError):
                json.loads(await response.read())
        # Errors and empty answers are left alone.
        status, _, text = await call(client, "GET", "/backup/0.0.0_0")
        assert (status, text) == (500, "Backup not found")
        async with client.get("/os/restart") as response:
            assert (response.status, await response.read()) == (204, b"")


async def test_malformed_json_rate(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"malformed_json": 0.5, "seed": 3})
    valid = invalid = 0
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        for _ in range(40):
            async with client.get("/os/permissions") as response:
                try:
                    json.loads(await response.read())
                    valid += 1
                except json.JSONDecodeError:
                    invalid += 1
    assert valid >= 5
    assert invalid >= 5


@pytest.mark.parametrize("framing", STREAMING)
async def test_malformed_json_in_streams(start_simulator: StartSimulator, framing: str) -> None:
    sim = await start_simulator(restore_framing=framing, faults={"malformed_json": True})
    async with aiohttp.ClientSession(base_url=sim.url) as client, client.post(STREAM) as response:
        assert response.status == 200
        body, error = await read_partial(response)
    assert error is None
    with pytest.raises(json.JSONDecodeError):
        decode(framing, body)
    assert sim.stats.streams[-1].completed


async def test_truncated_body_claims_more_than_it_sends(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"truncated_body": True})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        async with client.get("/applications") as response:
            assert response.status == 200
            announced = int(response.headers["Content-Length"])
            body, error = await read_partial(response)
        assert isinstance(error, aiohttp.ClientPayloadError)
        assert len(body) == announced // 2
        assert sim.state.applications_body().startswith(body)
        # The connection was closed; the next request works on a new one.
        status, _, text = await call(client, "GET", "/backup/0.0.0_0")
        assert (status, text) == (500, "Backup not found")
    assert sim.stats.connections == 2


@pytest.mark.parametrize("framing", STREAMING)
async def test_truncated_stream_ends_cleanly_mid_object(
    start_simulator: StartSimulator, framing: str
) -> None:
    sim = await start_simulator(restore_framing=framing, faults={"truncated_body": True})
    async with aiohttp.ClientSession(base_url=sim.url) as client, client.post(STREAM) as response:
        body, error = await read_partial(response)
    assert error is None, "the chunked body ends properly"
    with pytest.raises((json.JSONDecodeError, AssertionError)):
        decode(framing, body)
    # The objects before the cut are whole: INITIALIZED and the 4 IN-PROGRESS.
    whole = body[: body.rindex(b"IN-PROGRESS")]
    assert whole.count(b'"status"') == 5
    stream = sim.stats.streams[-1]
    assert (stream.messages, stream.completed, stream.dropped) == (5, False, False)


async def test_truncated_single_answer(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(restore_framing="single", faults={"truncated_body": True})
    async with aiohttp.ClientSession(base_url=sim.url) as client, client.post(STREAM) as response:
        assert response.status == 200
        body, error = await read_partial(response)
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert len(body) == int(response.headers["Content-Length"]) // 2


@pytest.mark.parametrize("framing", STREAMING)
@pytest.mark.parametrize("count", [0, 1, 3])
async def test_drop_after_closes_the_connection_mid_stream(
    start_simulator: StartSimulator, framing: str, count: int
) -> None:
    sim = await start_simulator(
        restore_framing=framing, restore_coalesce=True, faults={"drop_after": count}
    )
    async with aiohttp.ClientSession(base_url=sim.url) as client, client.post(STREAM) as response:
        assert response.status == 200
        body, error = await read_partial(response)
    assert isinstance(error, aiohttp.ClientPayloadError), "not a clean end of the chunked body"
    if count:
        text = body.decode()
        if framing == "array":
            text += "]"
        received = objects(framing, text.encode())
        assert [p["status"] for p in received] == ["INITIALIZED", *["IN-PROGRESS"] * (count - 1)]
    else:
        assert body == b""
    stream = sim.stats.streams[-1]
    assert (stream.messages, stream.dropped, stream.completed) == (count, True, False)


async def test_drop_after_in_single_framing_sends_no_answer(
    start_simulator: StartSimulator,
) -> None:
    sim = await start_simulator(restore_framing="single", faults={"drop_after": 2})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.post(STREAM)
    assert sim.stats.streams[-1].dropped


async def test_refuse_stream(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(faults={"refuse_stream": 503})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        status, response, text = await call(client, "POST", STREAM)
        assert (status, text) == (503, "Stream refused")
        assert response.headers["Content-Type"] == "text/plain"
        # Other routes are unaffected by a stream-only knob.
        status, _, _ = await call(client, "GET", "/applications")
        assert status == 200
    assert sim.stats.streams == []


@pytest.mark.parametrize("routes", [["GET /backup/{backup}"], ["/backup/{backup}"], ["/backup/9."]])
async def test_routes_filter_breaks_one_route_only(
    start_simulator: StartSimulator, routes: list[str]
) -> None:
    sim = await start_simulator(faults={"error_rate": 1.0, "routes": routes})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        status, _, _ = await call(client, "GET", f"/backup/{SEEDED_BACKUP}")
        assert status == 500
        for method, path in (("GET", "/applications"), ("POST", "/os/update/check")):
            status, _, _ = await call(client, method, path)
            assert status == 200


async def test_faults_change_in_process_while_running(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    pieces.faults.error_rate = 1.0
    pieces.faults.error_status = 502
    assert (await call(client, "GET", "/applications"))[0] == 502
    pieces.faults.clear()
    assert (await call(client, "GET", "/applications"))[0] == 200


async def test_faults_through_the_control_endpoint(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    knobs = {"error_rate": 1, "error_status": 429, "routes": ["/os/"]}
    async with client.post("/__simulator__/faults", json=knobs) as response:
        assert response.status == 200
        echoed = await response.json()
    assert echoed["error_status"] == 429
    assert echoed["routes"] == ["/os/"]
    assert pieces.faults.error_rate == 1
    assert (await call(client, "GET", "/os/permissions"))[0] == 429
    assert (await call(client, "GET", "/applications"))[0] == 200
    # Merging keeps the other knobs.
    async with client.post("/__simulator__/faults", json={"error_status": 418}) as response:
        assert (await response.json())["routes"] == ["/os/"]
    assert (await call(client, "GET", "/os/permissions"))[0] == 418
    async with client.delete("/__simulator__/faults") as response:
        assert (await response.json())["error_rate"] == 0
    assert (await call(client, "GET", "/os/permissions"))[0] == 200
    await client.post("/__simulator__/faults", json={"refuse_stream": 503})
    assert (await call(client, "POST", STREAM))[0] == 503
    async with client.post("/__simulator__/faults", json={}) as response:
        cleared = await response.json()
    assert cleared["refuse_stream"] is None
    assert not pieces.faults.active


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"error_rate": 2}, "error_rate must be between 0 and 1"),
        ({"nope": 1}, "unknown fault knobs: nope"),
        ({"routes": "/os/"}, "routes must be a list"),
        ({"routes": [1]}, "routes must be a list"),
        ({"drop_after": -1}, "drop_after must not be negative"),
        ({"latency": "slow"}, "not supported between"),
    ],
)
async def test_invalid_fault_knobs_answer_400(
    client: aiohttp.ClientSession, pieces: Simulator, knobs: dict[str, Any], message: str
) -> None:
    async with client.post("/__simulator__/faults", json=knobs) as response:
        assert response.status == 400
        assert message in await response.text()
    assert not pieces.faults.active


async def test_latency_applies_to_streams_too(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(restore_interval=0, faults={"latency": 0.1})
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        started = time.monotonic()
        async with client.post(STREAM) as response:
            first = await response.content.readuntil(b"\n")
            elapsed = time.monotonic() - started
            await response.read()
    assert b"INITIALIZED" in first
    assert elapsed >= 0.1
