"""The streamed restore in every framing, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import aiohttp
import httpx
import pytest
from pieces_os_client.models.backup_streamed_progress import BackupStreamedProgress

from gateway.simulator import FRAMINGS, Simulator

from .conftest import SEEDED_BACKUP, StartSimulator
from .sdkcheck import sdk_roundtrip
from .streams import decode, objects, receive
from .test_os import call
from .wirecheck import check_model, sample_backup

PATH = f"/backup/{SEEDED_BACKUP}/restore/streamed"
STREAMING = [f for f in FRAMINGS if f != "single"]
CONTENT_TYPES = {
    "ndjson": "application/x-ndjson",
    "concat": "application/json",
    "array": "application/json",
    "sse": "text/event-stream",
    "single": "application/json",
}


def check_sequence(
    reference: dict[str, Any], progress: list[dict[str, Any]], messages: int
) -> None:
    """INITIALIZED, ``messages`` IN-PROGRESS with rising percentages, COMPLETED with the backup."""
    for item in progress:
        check_model(reference, "BackupStreamedProgress", item)
        sdk_roundtrip(BackupStreamedProgress, item)
    statuses = [item["status"] for item in progress]
    assert statuses == ["INITIALIZED", *["IN-PROGRESS"] * messages, "COMPLETED"]
    percentages = [item["percentage"] for item in progress]
    assert percentages[0] == 0
    assert percentages[-1] == 100
    assert all(a < b for a, b in itertools.pairwise(percentages))
    assert progress[-1]["backup"]["id"] == SEEDED_BACKUP
    assert all("backup" not in item for item in progress[:-1])


@pytest.mark.parametrize("framing", STREAMING)
async def test_streaming_framings(
    start_simulator: StartSimulator, reference: dict[str, Any], framing: str
) -> None:
    sim = await start_simulator(restore_framing=framing, restore_messages=6)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        received = await receive(client, PATH, sample_backup(SEEDED_BACKUP))
    assert received.status == 200
    assert received.headers["Content-Type"] == CONTENT_TYPES[framing]
    assert received.headers["Transfer-Encoding"] == "chunked"
    assert received.headers["x-powered-by"] == "Dart with package:shelf"
    spans = decode(framing, received.body)
    check_sequence(reference, [value for _, _, value in spans], 6)
    # Every object is cut by at least one chunk boundary: no chunk is one object.
    boundaries = received.boundaries
    for start, end, value in spans:
        assert any(start < b < end for b in boundaries), f"{value['status']} arrived whole"
    stream = sim.stats.streams[-1]
    assert (stream.framing, stream.messages, stream.completed) == (framing, 8, True)
    assert not stream.disconnected


@pytest.mark.parametrize("framing", STREAMING)
async def test_coalesced_chunks_join_two_objects(
    start_simulator: StartSimulator, reference: dict[str, Any], framing: str
) -> None:
    sim = await start_simulator(restore_framing=framing, restore_coalesce=True)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        received = await receive(client, PATH)
    spans = decode(framing, received.body)
    check_sequence(reference, [value for _, _, value in spans], 4)
    offset, joined = 0, 0
    for chunk in received.chunks:
        starts = [s for s, _, _ in spans if offset < s < offset + len(chunk)]
        ends = [e for _, e, _ in spans if offset < e < offset + len(chunk)]
        if starts and ends and min(ends) <= max(starts):
            joined += 1
        offset += len(chunk)
    assert joined >= 3


async def test_single_framing_answers_one_final_object(
    start_simulator: StartSimulator, reference: dict[str, Any]
) -> None:
    sim = await start_simulator(restore_framing="single", restore_interval=0.02)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        started = time.monotonic()
        received = await receive(client, PATH)
        elapsed = time.monotonic() - started
    assert received.status == 200
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Content-Length"] == str(len(received.body))
    assert "Transfer-Encoding" not in received.headers
    final = json.loads(received.body)
    check_model(reference, "BackupStreamedProgress", final)
    sdk_roundtrip(BackupStreamedProgress, final)
    assert (final["status"], final["percentage"]) == ("COMPLETED", 100)
    assert final["backup"]["id"] == SEEDED_BACKUP
    # The answer comes when the whole restore is done: (4 steps + 1) intervals.
    assert elapsed >= 0.1
    assert sim.stats.streams[-1].completed


@pytest.mark.parametrize("messages", [0, 1, 12])
async def test_message_count_is_configurable(
    start_simulator: StartSimulator, reference: dict[str, Any], messages: int
) -> None:
    sim = await start_simulator(restore_messages=messages, restore_interval=0)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        received = await receive(client, PATH)
    check_sequence(reference, objects("ndjson", received.body), messages)


async def test_pace_is_configurable(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(restore_messages=3, restore_interval=0.04)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        received = await receive(client, PATH)
    ends: list[float] = []
    offset = 0
    spans = decode("ndjson", received.body)
    for chunk, arrival in zip(received.chunks, received.arrivals, strict=True):
        offset += len(chunk)
        ends.extend(arrival for _, end, _ in spans if end == offset - 1)
    assert len(ends) == 5
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert all(gap >= 0.03 for gap in gaps), gaps


async def test_httpx_reads_the_stream_incrementally(
    start_simulator: StartSimulator, reference: dict[str, Any]
) -> None:
    sim = await start_simulator(restore_framing="sse")
    parts: list[bytes] = []
    async with (
        httpx.AsyncClient(base_url=sim.url) as client,
        client.stream("POST", PATH, json=sample_backup(SEEDED_BACKUP)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        async for part in response.aiter_raw():
            parts.append(part)
    assert len(parts) > 1
    check_sequence(reference, objects("sse", b"".join(parts)), 4)


async def test_restoration_status_follows_the_stream(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(restore_messages=5, restore_interval=0.05)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        streaming = asyncio.create_task(receive(client, PATH))
        await asyncio.sleep(0.12)
        _, _, during = await call(client, "GET", f"/backup/{SEEDED_BACKUP}/restoration/status")
        await streaming
        _, _, after = await call(client, "GET", f"/backup/{SEEDED_BACKUP}/restoration/status")
    assert during["value"] == "IN-PROGRESS"
    assert 0 < during["percentage"] < 100
    assert (after["value"], after["percentage"]) == ("COMPLETED", 100)


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_cancel_while_streaming_ends_with_canceled(
    start_simulator: StartSimulator, framing: str
) -> None:
    sim = await start_simulator(restore_framing=framing, restore_messages=50, restore_interval=0.02)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        streaming = asyncio.create_task(receive(client, PATH))
        await asyncio.sleep(0.1)
        async with client.post(f"/backup/{SEEDED_BACKUP}/restoration/cancel") as response:
            assert response.status == 204
        received = await asyncio.wait_for(streaming, 2)
    progress = objects(framing, received.body)
    assert progress[-1]["status"] == "CANCELED"
    assert progress[-1]["percentage"] < 100
    if framing != "single":
        assert next(p["status"] for p in progress[:-1]) == "INITIALIZED"
        assert "COMPLETED" not in [p["status"] for p in progress]
    stream = sim.stats.streams[-1]
    assert stream.canceled
    assert not stream.disconnected
    status = sim.state.restoration_status(SEEDED_BACKUP)
    assert status["value"] == "CANCELED"


@pytest.mark.parametrize("interval", [0.005, 1.0])
async def test_client_disconnect_is_noticed_quickly(
    start_simulator: StartSimulator, interval: float
) -> None:
    sim = await start_simulator(restore_messages=1000, restore_interval=interval)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        response = await client.post(PATH)
        await response.content.readuntil(b"\n")
        response.close()
        gone = time.monotonic()
        stream = sim.stats.streams[-1]
        for _ in range(200):
            if stream.disconnected:
                break
            await asyncio.sleep(0.005)
    assert stream.disconnected
    assert stream.disconnected_at is not None
    assert stream.disconnected_at - gone < 0.1
    assert not stream.completed
    assert 1 <= stream.messages < 1002


async def test_stream_of_an_unknown_backup_answers_500(client: aiohttp.ClientSession) -> None:
    status, response, text = await call(client, "POST", "/backup/0.0.0_0/restore/streamed")
    assert (status, text) == (500, "Backup not found")
    assert response.headers["Content-Type"] == "text/plain"


async def test_stream_rejects_an_invalid_backup_body(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    status, _, text = await call(client, "POST", PATH, {"id": SEEDED_BACKUP})
    assert status == 400
    assert "missing required key 'version' of Backup" in text
    assert pieces.stats.streams == []


async def test_stop_ends_streams_in_progress_at_once(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(restore_messages=100, restore_interval=0.5)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        response = await client.post(PATH)
        await response.content.readuntil(b"\n")
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 0.3
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    stream = sim.stats.streams[-1]
    assert not stream.completed
    assert not stream.disconnected, "the server ended it, the client did not leave"
