"""Shared fixtures: a real simulator on an ephemeral loopback port, a real gateway in front of
it on another, and generated stubs over a real channel."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from aiohttp import web

from gateway.config import GatewayConfig
from gateway.server import Gateway
from gateway.simulator import Simulator, SimulatorConfig
from pieces.v1 import applications_pb2_grpc, backup_pb2_grpc, os_pb2_grpc


def gateway_config(upstream: str, **overrides: Any) -> GatewayConfig:
    """A test configuration: ephemeral port, everything allowed, health probes rare enough not
    to show in the simulator's request counts, and no periodic memory release (the tests of
    either set their own)."""
    base = GatewayConfig(
        listen="127.0.0.1:0",
        upstream=upstream,
        allow_destructive=True,
        health_interval=3600.0,
        memory_release_interval=0.0,
        shutdown_grace=1.0,
    )
    return dataclasses.replace(base, **overrides)


@dataclasses.dataclass
class Stubs:
    channel: grpc.aio.Channel
    os: os_pb2_grpc.OsServiceStub
    applications: applications_pb2_grpc.ApplicationsServiceStub
    backup: backup_pb2_grpc.BackupServiceStub


def stubs_for(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(
        channel,
        os_pb2_grpc.OsServiceStub(channel),
        applications_pb2_grpc.ApplicationsServiceStub(channel),
        backup_pb2_grpc.BackupServiceStub(channel),
    )


@contextlib.asynccontextmanager
async def running_gateway(config: GatewayConfig) -> AsyncIterator[tuple[Gateway, Stubs]]:
    """A gateway of its own, with stubs on a channel to it."""
    async with (
        Gateway(config) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        yield gateway, stubs_for(channel)


async def collect(call: AsyncIterator[Any], into: list[Any]) -> None:
    """Read a server stream to its end, keeping every message even if it then fails."""
    async for message in call:
        into.append(message)


@contextlib.asynccontextmanager
async def serve_upstream(
    handler: Callable[[web.Request], Awaitable[web.Response]],
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[str]:
    """A stand-in upstream on an ephemeral loopback port that answers every request with
    ``handler`` (over TLS with ``ssl_context``); yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "http" if ssl_context is None else "https"
    try:
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorConfig(restore_interval=0.002))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(scope="session")
async def gateway(simulator: Simulator) -> AsyncIterator[Gateway]:
    gw = Gateway(gateway_config(simulator.url))
    await gw.start()
    yield gw
    await gw.stop(grace=0)


@pytest.fixture(scope="session")
async def stubs(gateway: Gateway) -> AsyncIterator[Stubs]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
    yield stubs_for(channel)
    await channel.close()


@pytest.fixture
async def sim(simulator: Simulator) -> AsyncIterator[Simulator]:
    """The shared simulator, reset to its starting state before and after the test."""
    await simulator.reset()
    yield simulator
    await simulator.reset()


@contextlib.contextmanager
def unanswered_listener() -> Iterator[int]:
    """A port whose listen backlog is full, so a new connection attempt hangs unanswered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()
