"""Upstream failures become the right gRPC status, with details, and the gateway keeps serving."""

from __future__ import annotations

import asyncio
import socket
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gateway.simulator import Simulator, SimulatorConfig
from pieces.v1 import applications_pb2, backup_pb2, os_pb2
from tests.conftest import Stubs, gateway_config, running_gateway

DEVICE = os_pb2.OsDeviceInformationRequest()


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, "the status carries no google.rpc details"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the status details")


def has_retry_info(error: grpc.aio.AioRpcError) -> bool:
    status = rpc_status.from_call(error)
    assert status is not None
    return any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)


async def still_serving(stubs: Stubs) -> None:
    info = await stubs.os.OsDeviceInformation(DEVICE, timeout=5)
    assert info.name


@pytest.mark.parametrize(
    ("http", "code"),
    [
        (400, grpc.StatusCode.INVALID_ARGUMENT),
        (401, grpc.StatusCode.UNAUTHENTICATED),
        (403, grpc.StatusCode.PERMISSION_DENIED),
        (404, grpc.StatusCode.NOT_FOUND),
        (409, grpc.StatusCode.ABORTED),
        (429, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (500, grpc.StatusCode.INTERNAL),
        (501, grpc.StatusCode.UNIMPLEMENTED),
        (503, grpc.StatusCode.UNAVAILABLE),
        (504, grpc.StatusCode.DEADLINE_EXCEEDED),
        (505, grpc.StatusCode.FAILED_PRECONDITION),
        (511, grpc.StatusCode.UNAUTHENTICATED),
        (418, grpc.StatusCode.FAILED_PRECONDITION),
        (502, grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_upstream_status_maps_to_grpc_code(
    stubs: Stubs, sim: Simulator, http: int, code: grpc.StatusCode
) -> None:
    sim.faults.update(
        {"error_rate": 1.0, "error_status": http, "error_text": f"simulated {http}",
         "routes": ["GET /os/device/information"]}
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.os.OsDeviceInformation(DEVICE)
    error = caught.value
    assert error.code() is code
    assert f"simulated {http}" in (error.details() or "")
    info = error_info(error)
    assert info.domain == "pieces.app"
    assert info.metadata["http_status"] == str(http)
    assert info.metadata["upstream_body"] == f"simulated {http}"
    assert has_retry_info(error) == (http in {429, 502, 503, 504})
    sim.faults.clear()
    await still_serving(stubs)


async def test_signed_out_backup_is_unauthenticated_with_advice(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.state.signed_in = False
    backup_id = next(iter(sim.state.backups))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
        )
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "sign in to PiecesOS and connect the cloud" in (caught.value.details() or "")
    assert error_info(caught.value).reason == "PIECES_SIGN_IN_REQUIRED"


async def test_too_old_pieces_os_is_failed_precondition(stubs: Stubs, sim: Simulator) -> None:
    sim.state.too_old = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.backup.Backup(backup_pb2.BackupRequest())
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "PIECES_OS_UPDATE_REQUIRED"


async def test_garbage_body_is_internal_saying_what_was_wrong(stubs: Stubs, sim: Simulator) -> None:
    sim.faults.update({"malformed_json": True, "routes": ["GET /applications"]})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.applications.ApplicationsSnapshot(
            applications_pb2.ApplicationsSnapshotRequest()
        )
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert "not JSON" in (caught.value.details() or "")
    assert error_info(caught.value).reason == "PIECES_OS_BAD_RESPONSE"
    sim.faults.clear()
    await still_serving(stubs)


async def test_truncated_body_is_an_error_not_a_partial_answer(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.faults.update({"truncated_body": True, "routes": ["GET /applications"]})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.applications.ApplicationsSnapshot(
            applications_pb2.ApplicationsSnapshotRequest()
        )
    assert caught.value.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}
    sim.faults.clear()
    await still_serving(stubs)


async def test_short_deadline_against_slow_upstream(stubs: Stubs, sim: Simulator) -> None:
    sim.faults.update({"latency": 2.0, "routes": ["GET /os/device/information"]})
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stubs.os.OsDeviceInformation(DEVICE, timeout=0.3)
    elapsed = time.monotonic() - started
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 <= elapsed < 0.8, elapsed
    sim.faults.clear()
    await still_serving(stubs)


async def test_gateway_default_timeout_applies_without_a_deadline(simulator: Simulator) -> None:
    await simulator.reset()
    simulator.faults.update({"latency": 2.0, "routes": ["GET /os/device/information"]})
    config = gateway_config(simulator.url, upstream_timeout=0.3)
    try:
        async with running_gateway(config) as (_, stubs):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stubs.os.OsDeviceInformation(DEVICE)
            assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert error_info(caught.value).reason == "PIECES_OS_TIMEOUT"
    finally:
        await simulator.reset()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_upstream_down_is_unavailable_naming_the_url_then_recovers() -> None:
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    async with running_gateway(gateway_config(upstream)) as (_, stubs):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.os.OsDeviceInformation(DEVICE, timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert upstream in (caught.value.details() or "")
        assert error_info(caught.value).reason == "PIECES_OS_UNREACHABLE"
        assert has_retry_info(caught.value)
        async with Simulator(SimulatorConfig(port=port)) as sim:
            info = await stubs.os.OsDeviceInformation(DEVICE, timeout=5)
            assert info.name
            assert sim.stats.routes["GET /os/device/information"] == 1


async def test_many_failures_in_parallel_leave_the_gateway_serving(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.faults.update({"error_rate": 0.5, "error_status": 503, "routes": ["GET /applications"]})
    calls = [
        stubs.applications.ApplicationsSnapshot(applications_pb2.ApplicationsSnapshotRequest())
        for _ in range(50)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert all(f.code() is grpc.StatusCode.UNAVAILABLE for f in failures)
    assert 0 < len(failures) < 50
    sim.faults.clear()
    await still_serving(stubs)


async def test_cancelled_unary_call_aborts_the_upstream_request(
    stubs: Stubs, sim: Simulator
) -> None:
    sim.faults.update({"latency": 1.0, "routes": ["GET /os/device/information"]})
    call = stubs.os.OsDeviceInformation(DEVICE)
    for _ in range(100):
        if sim.stats.total:
            break
        await asyncio.sleep(0.01)
    call.cancel()
    await asyncio.sleep(1.3)
    (record,) = sim.stats.requests
    assert record.route == "GET /os/device/information"
    assert record.status is None, "PiecesOS answered: the upstream request was not aborted"
    sim.faults.clear()
    await still_serving(stubs)
