"""The Node.js client in clients/node (@grpc/grpc-js, protos loaded at run time) against a real
gateway in front of the simulator: a unary call, a path parameter, an error with its
google.rpc details, and every message of the streamed restore."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from gateway.server import Gateway
from gateway.simulator import Simulator, SimulatorConfig
from tests.conftest import gateway_config

ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = ROOT / "clients" / "node"
INSTALL = "npm ci --prefix clients/node"
RESTORE_MESSAGES = 23
"""IN_PROGRESS messages per restore: an odd number, unlike the simulator's default."""
CLIENT_TIMEOUT = 90.0


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    summary: dict[str, Any]

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


class Env(NamedTuple):
    sim: Simulator
    target: str
    include: Path
    node: str


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(f"`node` is not on PATH: install Node.js >= 18.3, then run `{INSTALL}`")
    for package in ("@grpc/grpc-js", "@grpc/proto-loader", "protobufjs"):
        if not (NODE_CLIENT / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"{package} is not installed in clients/node: run `{INSTALL}`")
    return found


@pytest.fixture(scope="module")
def protodeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """google/api and google/protobuf protos, copied from the installed packages."""
    out = tmp_path_factory.mktemp("protodeps")
    subprocess.run([sys.executable, str(ROOT / "tools" / "protodeps.py"), str(out)], check=True)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
async def env(node: str, protodeps: Path) -> AsyncIterator[Env]:
    config = SimulatorConfig(restore_messages=RESTORE_MESSAGES, restore_interval=0.002)
    async with Simulator(config) as sim, Gateway(gateway_config(sim.url)) as gw:
        yield Env(sim, f"127.0.0.1:{gw.port}", protodeps, node)


@pytest.fixture
async def fresh(env: Env) -> AsyncIterator[Env]:
    """The module's simulator, back to its starting state before and after the test."""
    await env.sim.reset()
    yield env
    await env.sim.reset()


async def run_client(env: Env, *extra: str) -> Run:
    """Run client.js as a subprocess; the event loop keeps serving the gateway meanwhile."""
    backup_id = next(iter(env.sim.state.backups))
    args = [
        str(NODE_CLIENT / "client.js"),
        "--target", env.target,
        "--include", str(env.include),
        "--backup", backup_id,
        "--expect-progress", str(RESTORE_MESSAGES),
        "--timeout", "30",
        *extra,
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        env.node,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(
            f"the Node client did not finish within {CLIENT_TIMEOUT:.0f} s\n"
            f"--- stdout\n{out.decode()}--- stderr\n{err.decode()}"
        )
    stdout, stderr = out.decode(), err.decode()
    lines = stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        summary = None
    assert process.returncode is not None
    run = Run(process.returncode, stdout, stderr, summary or {})
    assert isinstance(summary, dict), f"no JSON summary line\n{run.explain()}"
    return run


async def test_node_client_passes_every_step(fresh: Env) -> None:
    sim = fresh.sim
    backup_id = next(iter(sim.state.backups))
    run = await run_client(fresh)
    assert run.returncode == 0, run.explain()
    summary = run.summary
    assert summary["ok"] is True, run.explain()
    assert summary["failures"] == []
    steps = summary["steps"]
    assert set(steps) == {"os", "applications", "error", "restore"}
    assert all(step["ok"] for step in steps.values()), run.explain()

    assert steps["os"]["name"] == "pieces-simulator"
    assert steps["os"]["version"] == sim.state.os_version

    assert steps["applications"]["id"] == next(iter(sim.state.applications))
    assert steps["applications"]["count"] == len(sim.state.applications)

    error = steps["error"]
    assert error["code"] == 5
    assert error["code_name"] == "NOT_FOUND"
    assert error["status_code"] == 5
    assert error["reason"] == "PIECES_OS_HTTP_ERROR"
    assert error["domain"] == "pieces.app"
    assert error["metadata"]["http_status"] == "404"
    assert "type.googleapis.com/google.rpc.ErrorInfo" in error["detail_types"]

    restore = steps["restore"]
    assert summary["streamed"] == RESTORE_MESSAGES + 2
    assert restore["streamed"] == RESTORE_MESSAGES + 2
    assert restore["in_progress"] == RESTORE_MESSAGES
    assert restore["first"] == "MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_INITIALIZED"
    assert restore["last"] == "MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED"
    assert restore["restored"] == backup_id
    assert restore["code_name"] == "OK"
    # What the client received is what the simulator wrote.
    assert sim.stats.streams[-1].messages == restore["streamed"]

    for step in ("os", "applications", "error", "restore"):
        assert any(line.startswith(f"ok    {step}") for line in run.stdout.splitlines())


async def test_node_client_notices_a_missing_message(fresh: Env) -> None:
    """Expecting one more IN_PROGRESS than the restore streams fails the client."""
    run = await run_client(fresh, "--expect-progress", str(RESTORE_MESSAGES + 1))
    assert run.returncode == 1, run.explain()
    assert run.summary["ok"] is False
    steps = run.summary["steps"]
    assert [name for name, step in steps.items() if not step["ok"]] == ["restore"]
    assert f"expected {RESTORE_MESSAGES + 1}" in steps["restore"]["error"]


async def test_node_client_notices_a_stream_cut_short(fresh: Env) -> None:
    fresh.sim.faults.update({"drop_after": 7})
    run = await run_client(fresh)
    assert run.returncode == 1, run.explain()
    restore = run.summary["steps"]["restore"]
    assert restore["ok"] is False
    assert restore["code_name"] == "UNAVAILABLE"
    assert restore["streamed"] == 7
    assert run.summary["steps"]["os"]["ok"] is True


async def test_node_client_notices_a_wrong_status_code(fresh: Env) -> None:
    """The lookup of a missing backup answering another HTTP status fails the error step."""
    fresh.sim.faults.update(
        {"error_rate": 1.0, "error_status": 409, "routes": ["GET /backup/{backup}/creation/status"]}
    )
    run = await run_client(fresh)
    assert run.returncode == 1, run.explain()
    error = run.summary["steps"]["error"]
    assert error["ok"] is False
    assert error["code_name"] == "ABORTED"
    assert "expected NOT_FOUND" in error["error"]
    assert run.summary["steps"]["restore"]["ok"] is True
