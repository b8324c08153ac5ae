"""Path values never leave their segment; selected metadata is forwarded, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from urllib.parse import unquote

import grpc
import pytest
from aiohttp import web

from gateway.simulator import Simulator
from pieces.v1 import applications_pb2, backup_pb2, os_pb2
from tests.conftest import Stubs, gateway_config, running_gateway, serve_upstream

HOSTILE = [
    "../os/restart",
    "..",
    ".",
    "a/b",
    "?x=1",
    "#frag",
    "%2F..%2Fos%2Frestart",
    "%2e%2e",
    "..%2f",
    "é ü 漢字 🎉",
    "a b\tc",
    "line\r\nX-Injected: 1",
    "a;b=c",
    "\\..\\os",
]


async def call_code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("value", HOSTILE)
async def test_path_values_cannot_escape_their_segment(
    stubs: Stubs, sim: Simulator, value: str
) -> None:
    code = await call_code(
        stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=value)
        )
    )
    # Either the gateway refused the value before sending anything, or PiecesOS was asked for
    # a backup with exactly that identifier and did not find it.
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert sim.stats.total == 0
    else:
        assert code is grpc.StatusCode.INTERNAL
        assert sim.stats.total == 1
    requests = list(sim.stats.requests)
    assert all(r.route == "GET /backup/{backup}" for r in requests), requests
    for record in requests:
        segments = record.path.split("?")[0].split("/")
        assert len(segments) == 3, record.path
        assert unquote(segments[2]) == value
    assert sim.state.restarts == 0


async def test_empty_and_dot_segments_are_invalid_argument(stubs: Stubs, sim: Simulator) -> None:
    for value in ("", ".", ".."):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.applications.ApplicationsSpecificApplicationSnapshot(
                applications_pb2.ApplicationsSpecificApplicationSnapshotRequest(application=value)
            )
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "application" in (caught.value.details() or "")
    assert sim.stats.total == 0


class HeaderRecorder:
    """A tiny upstream that records the headers of each request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        return web.json_response({"name": "recorder", "version": "1"})


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[HeaderRecorder, str]]:
    recorder = HeaderRecorder()
    async with serve_upstream(recorder.handle) as url:
        yield recorder, url


async def test_selected_metadata_is_forwarded_and_grpc_headers_are_not(
    recorder: tuple[HeaderRecorder, str],
) -> None:
    seen, url = recorder
    async with running_gateway(gateway_config(url)) as (_, stubs):
        await stubs.os.OsDeviceInformation(
            os_pb2.OsDeviceInformationRequest(),
            metadata=(
                ("x-request-id", "req-123"),
                ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("x-secret", "do-not-forward"),
                ("authorization", "Bearer not-for-pieces"),
            ),
            timeout=5,
        )
        await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest(), timeout=5)
    first, second = seen.headers[-2:]
    assert first["x-request-id"] == "req-123"
    assert first["traceparent"].startswith("00-0af7651916cd43dd")
    for headers in (first, second):
        assert "x-secret" not in headers
        assert "authorization" not in headers
        assert "te" not in headers
        assert "grpc-timeout" not in headers
        assert not any(key.startswith("grpc-") for key in headers)
        assert headers["accept"].startswith("application/json")
    # Without a request id from the caller the gateway makes one up and forwards it.
    assert len(second["x-request-id"]) == 32
