"""Health, reflection, metrics, the command line, graceful shutdown and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiohttp import web
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway import allocator
from gateway.simulator import Simulator, SimulatorConfig
from pieces.v1 import backup_pb2, models_pb2, os_pb2
from tests.conftest import Stubs, gateway_config, running_gateway, serve_upstream, stubs_for

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CLI = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def health_status(channel: grpc.aio.Channel, service: str = "") -> int:
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return int(answer.status)


async def wait_for_health(channel: grpc.aio.Channel, wanted: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while await health_status(channel) != wanted:
        assert time.monotonic() < deadline, f"health never became {wanted}"
        await asyncio.sleep(0.05)


async def test_health_follows_the_upstream() -> None:
    port = free_port()
    sim = Simulator(SimulatorConfig(port=port))
    await sim.start()
    config = gateway_config(sim.url, health_interval=0.1)
    async with running_gateway(config) as (_, stubs):
        assert await health_status(stubs.channel) == SERVING
        assert await health_status(stubs.channel, "pieces.v1.BackupService") == SERVING
        await sim.stop()
        await wait_for_health(stubs.channel, NOT_SERVING)
        assert await health_status(stubs.channel, "pieces.v1.OsService") == NOT_SERVING
        sim = Simulator(SimulatorConfig(port=port))
        await sim.start()
        try:
            await wait_for_health(stubs.channel, SERVING)
        finally:
            await sim.stop()


async def test_reflection_lists_and_describes_every_service(stubs: Stubs) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stubs.channel)

    async def ask(request: reflection_pb2.ServerReflectionRequest) -> Any:
        call = stub.ServerReflectionInfo(iter([request]))
        answers = [answer async for answer in call]
        assert len(answers) == 1
        return answers[0]

    listed = await ask(reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in listed.list_services_response.service}
    assert {
        "pieces.v1.OsService",
        "pieces.v1.ApplicationsService",
        "pieces.v1.BackupService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    found = await ask(
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="pieces.v1.BackupService")
    )
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in found.file_descriptor_response.file_descriptor_proto
    ]
    backup_file = next(f for f in files if f.name == "pieces/v1/backup.proto")
    methods = {m.name: m for m in backup_file.service[0].method}
    assert len(methods) == 9
    assert methods["BackupRestoreSpecificBackupStreamed"].server_streaming


class UnknownKeysUpstream:
    """An upstream newer than the contract: extra keys and an enum value nobody knows."""

    async def handle(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"name": "future", "version": "99", "hologram": {"x": 1}, "quantumCores": 4}
        )


@pytest.fixture
async def future_upstream() -> AsyncIterator[str]:
    async with serve_upstream(UnknownKeysUpstream().handle) as url:
        yield url


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/metrics")
    answer.raise_for_status()
    return answer.text


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(re.escape(name) + r"(?:\{(.*)\})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


async def test_metrics_after_calls(sim: Simulator, future_upstream: str) -> None:
    config = gateway_config(sim.url, metrics_listen="127.0.0.1:0")
    async with running_gateway(config) as (gateway, stubs):
        await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest())
        await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest())
        with pytest.raises(grpc.aio.AioRpcError):
            await stubs.backup.BackupSpecificCreationStatus(
                backup_pb2.BackupSpecificCreationStatusRequest(backup="nope")
            )
        backup_id = next(iter(sim.state.backups))
        backup = await stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
        )
        streamed = [
            m
            async for m in stubs.backup.BackupRestoreSpecificBackupStreamed(
                backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup_id, body=backup)
            )
        ]
        text = await scrape(gateway.metrics_port)
    assert sample(text, "pieces_gateway_rpcs_total", rpc="OsDeviceInformation", code="OK") == 2
    assert (
        sample(
            text, "pieces_gateway_rpcs_total", rpc="BackupSpecificCreationStatus", code="NOT_FOUND"
        )
        == 1
    )
    assert (
        sample(
            text,
            "pieces_gateway_upstream_duration_seconds_count",
            route="GET /backup/{backup}/creation/status",
            status="404",
        )
        == 1
    )
    assert sample(text, "pieces_gateway_rpc_duration_seconds_count", rpc="OsDeviceInformation") == 2
    assert sample(
        text, "pieces_gateway_stream_messages_total", rpc="BackupRestoreSpecificBackupStreamed"
    ) == len(streamed)
    assert "pieces_gateway_streams_in_flight" in text
    assert sample(text, "pieces_gateway_upstream_up") == 1

    config = gateway_config(future_upstream, metrics_listen="127.0.0.1:0")
    async with running_gateway(config) as (gateway, stubs):
        info = await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest())
        assert info.name == "future"
        text = await scrape(gateway.metrics_port)
    assert (
        sample(
            text,
            "pieces_gateway_unknown_json_total",
            kind="field",
            type="pieces.v1.OSDeviceInformationReturnable",
        )
        == 2
    )


async def test_serve_help_documents_every_option() -> None:
    process = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    text = out.decode()
    assert process.returncode == 0
    for flag in ("--upstream", "--listen", "--tls-cert", "--tokens-file", "--allow-destructive",
                 "--metrics-listen", "PIECES_GATEWAY_UPSTREAM", "--config"):  # fmt: skip
        assert flag in text


async def test_bad_option_stops_start_up_naming_it() -> None:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "serve",
        "--upstream",
        "localhost:1000",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "--upstream" in err.decode()
    assert "http://" in err.decode()


async def start_serving(upstream: str, port: int, *extra: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--upstream", upstream, "--listen", f"127.0.0.1:{port}",
        "--allow-destructive", "--shutdown-grace", "5", *extra,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=15)
    return process


def proc_file(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


@pytest.mark.skipif(allocator.find_jemalloc() is None, reason="libjemalloc2 is not installed")
async def test_serve_on_jemalloc_re_executes_itself_with_it_and_serves(sim: Simulator) -> None:
    port = free_port()
    process = await start_serving(sim.url, port, "--allocator", "jemalloc")
    try:
        # The same process (the command re-executed itself), now allocating from jemalloc.
        assert b"libjemalloc" in proc_file(process.pid, "maps")
        assert b"PYTHONMALLOC=malloc" in proc_file(process.pid, "environ").split(b"\0")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await stubs_for(channel).os.OsDeviceInformation(
                os_pb2.OsDeviceInformationRequest(), timeout=5
            )
        assert answer.name
        assert sim.stats.routes["GET /os/device/information"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    err = await asyncio.wait_for(process.stderr.read(), timeout=10)
    assert await process.wait() == 0
    assert "allocating from jemalloc" in err.decode()


async def test_jemalloc_that_does_not_load_stops_start_up_saying_so() -> None:
    process = await asyncio.create_subprocess_exec(
        *CLI, "serve",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PIECES_GATEWAY_ALLOCATOR": "jemalloc", "PYTHONMALLOC": "malloc",
             "LD_PRELOAD": "/nonexistent/libjemalloc.so.2"},
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "--allocator jemalloc" in err.decode()
    assert "did not load" in err.decode()


async def test_sigterm_drains_an_open_stream_then_exits(sim: Simulator) -> None:
    sim.state.apply({"restore_messages": 30, "restore_interval": 0.05})
    port = free_port()
    process = await start_serving(sim.url, port)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stubs = stubs_for(channel)
        health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await health.read()).status == SERVING
        backup_id = next(iter(sim.state.backups))
        backup = await stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
        )
        call = stubs.backup.BackupRestoreSpecificBackupStreamed(
            backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup_id, body=backup)
        )
        received = [await call.read(), await call.read()]
        process.send_signal(signal.SIGTERM)
        assert (await health.read()).status == NOT_SERVING
        while (message := await call.read()) is not grpc.aio.EOF:
            received.append(message)
        assert await call.code() is grpc.StatusCode.OK
        assert received[-1].status == models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED
        assert len(received) == 32
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest(), timeout=2)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_second_signal_exits_at_once(sim: Simulator) -> None:
    sim.state.apply({"restore_messages": 1000, "restore_interval": 0.05})
    port = free_port()
    process = await start_serving(sim.url, port)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stubs = stubs_for(channel)
        backup_id = next(iter(sim.state.backups))
        backup = await stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
        )
        call = stubs.backup.BackupRestoreSpecificBackupStreamed(
            backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup_id, body=backup)
        )
        await call.read()
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=3)
        assert time.monotonic() - started < 2
        assert code == 128 + signal.SIGTERM
        call.cancel()


async def test_demo_runs_and_exits_zero() -> None:
    process = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--restore-messages", "5", "--restore-interval", "0.01",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "registered applications" in text
    assert "COMPLETED" in text
    assert "Restore completed." in text


async def test_json_logs_carry_the_request_id(sim: Simulator) -> None:
    port = free_port()
    process = await start_serving(sim.url, port, "--log-format", "json")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await stubs_for(channel).backup.BackupSpecificCreationStatus(
                backup_pb2.BackupSpecificCreationStatusRequest(backup="nope"),
                metadata=(("x-request-id", "trace-me-123"),),
                timeout=5,
            )
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    err = await asyncio.wait_for(process.stderr.read(), timeout=10)
    await process.wait()
    entries = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert entries, err.decode()
    assert all({"time", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    failed = [e for e in entries if e["request_id"] == "trace-me-123"]
    assert [e["message"] for e in failed if "NOT_FOUND" in e["message"]], failed
    assert sim.stats.requests[-1].path == "/backup/nope/creation/status"


@pytest.mark.parametrize("interval", [0.05, 0.0])
async def test_freed_memory_is_released_on_the_configured_interval(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    calls: list[float] = []
    monkeypatch.setattr(allocator, "release_memory", lambda: calls.append(time.monotonic()))
    config = gateway_config(sim.url, memory_release_interval=interval)
    async with running_gateway(config) as (_, stubs):
        await asyncio.sleep(0.4)
        answer = await stubs.os.OsDeviceInformation(os_pb2.OsDeviceInformationRequest())
        assert answer.name
        seen = len(calls)
    await asyncio.sleep(0.2)
    if interval:
        assert seen >= 3, "the gateway did not release memory periodically"
        assert len(calls) == seen, "releasing went on after the gateway stopped"
    else:
        assert calls == []
