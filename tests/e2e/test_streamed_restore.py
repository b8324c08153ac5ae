"""The streamed restore: every framing, failures mid-stream, cancellation, deadlines."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from gateway.simulator import FRAMINGS, Simulator
from pieces.v1 import backup_pb2, models_pb2
from tests.conftest import Stubs, collect

INITIALIZED = models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_INITIALIZED
IN_PROGRESS = models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_IN_PROGRESS
COMPLETED = models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED


async def restore_request(
    stubs: Stubs, sim: Simulator
) -> backup_pb2.BackupRestoreSpecificBackupStreamedRequest:
    backup_id = next(iter(sim.state.backups))
    backup = await stubs.backup.BackupSpecificBackupSnapshot(
        backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
    )
    return backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup_id, body=backup)


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_every_framing_delivers_every_message_in_order(
    stubs: Stubs, sim: Simulator, framing: str
) -> None:
    sim.state.apply({"restore_framing": framing, "restore_messages": 25})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(await restore_request(stubs, sim))
    messages = [message async for message in call]
    assert await call.code() is grpc.StatusCode.OK
    if framing == "single":
        assert [m.status for m in messages] == [COMPLETED]
    else:
        statuses = [m.status for m in messages]
        assert statuses == [INITIALIZED] + [IN_PROGRESS] * 25 + [COMPLETED]
        percentages = [m.percentage for m in messages[1:-1]]
        assert percentages == sorted(percentages)
        assert sim.stats.streams[-1].messages == len(messages)
    assert messages[-1].backup.id == next(iter(sim.state.backups))
    assert messages[-1].backup.device_name


@pytest.mark.parametrize("framing", ["ndjson", "concat", "array", "sse"])
async def test_drop_mid_stream_ends_unavailable_after_every_message_received(
    stubs: Stubs, sim: Simulator, framing: str
) -> None:
    sim.state.apply({"restore_framing": framing, "restore_messages": 20})
    sim.faults.update({"drop_after": 7})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(await restore_request(stubs, sim))
    received: list[models_pb2.BackupStreamedProgress] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, received)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert len(received) == 7
    assert [m.status for m in received] == [INITIALIZED] + [IN_PROGRESS] * 6
    sim.faults.clear()
    request = await restore_request(stubs, sim)
    again = [m async for m in stubs.backup.BackupRestoreSpecificBackupStreamed(request)]
    assert again[-1].status == COMPLETED


async def test_refused_stream_maps_its_status(stubs: Stubs, sim: Simulator) -> None:
    sim.faults.update({"refuse_stream": 503})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(await restore_request(stubs, sim))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, [])
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_malformed_object_mid_stream_is_internal(stubs: Stubs, sim: Simulator) -> None:
    request = await restore_request(stubs, sim)
    sim.faults.update({"malformed_json": True, "routes": ["/backup/"]})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, [])
    assert caught.value.code() is grpc.StatusCode.INTERNAL


async def test_signed_out_stream_is_unauthenticated(stubs: Stubs, sim: Simulator) -> None:
    request = await restore_request(stubs, sim)
    sim.state.signed_in = False
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, [])
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_client_cancel_closes_the_upstream_connection_quickly(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.state.apply({"restore_messages": 1000, "restore_interval": 0.005})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(await restore_request(stubs, sim))
    received = 0
    async for _ in call:
        received += 1
        if received == 5:
            break
    cancelled_at = time.monotonic()
    call.cancel()
    record = sim.stats.streams[-1]
    for _ in range(100):
        if record.disconnected:
            break
        await asyncio.sleep(0.005)
    assert record.disconnected, "the simulator never saw the upstream request end"
    assert record.disconnected_at is not None
    assert record.disconnected_at - cancelled_at < 0.1
    assert not record.completed


async def test_stream_deadline_ends_deadline_exceeded_near_the_deadline(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.state.apply({"restore_messages": 1000, "restore_interval": 0.01})
    request = await restore_request(stubs, sim)
    started = time.monotonic()
    received: list[models_pb2.BackupStreamedProgress] = []
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(request, timeout=0.4)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, received)
    elapsed = time.monotonic() - started
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.35 <= elapsed < 0.9, elapsed
    assert len(received) > 5
    # The gateway's own status, sent just before grpc's bare one, says what was late.
    assert "did not answer before the deadline" in (caught.value.details() or "")


async def test_slow_client_applies_backpressure(stubs: Stubs, sim: Simulator) -> None:
    """A client that stops reading stops the gateway reading: the upstream stays ahead only by
    what fits in the transport buffers, not the whole restore."""
    sim.state.apply({"restore_messages": 200_000, "restore_interval": 0.0})
    call = stubs.backup.BackupRestoreSpecificBackupStreamed(await restore_request(stubs, sim))
    first = await call.read()
    assert first.status == INITIALIZED
    await asyncio.sleep(1.0)
    written = sim.stats.streams[-1].messages
    assert written < 200_000, "the gateway read the whole upstream body for a stalled client"
    call.cancel()
