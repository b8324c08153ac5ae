"""Fixtures of the simulator tests: fresh simulators on ephemeral loopback ports and clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.simulator import FaultConfig, Simulator, SimulatorConfig

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "pieces-models.json"

SEEDED_BACKUP = "9.0.2_1714564800000"
"""Id of the newest backup of the seeded catalog."""

StartSimulator = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Start simulators with ``SimulatorConfig`` overrides (fast timings by default)."""
    started: list[Simulator] = []

    async def start(**overrides: Any) -> Simulator:
        settings: dict[str, Any] = {
            "restore_messages": 4,
            "restore_interval": 0.005,
            "creation_interval": 0.05,
            "restoration_interval": 0.05,
        }
        settings.update(overrides)
        if isinstance(settings.get("faults"), dict):
            settings["faults"] = FaultConfig(**settings["faults"])
        sim = Simulator(SimulatorConfig(**settings))
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def pieces(start_simulator: StartSimulator) -> Simulator:
    """A fresh simulator with the default seed data and fast timings."""
    return await start_simulator()


@pytest.fixture
async def client(pieces: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose relative URLs go to ``pieces``."""
    async with aiohttp.ClientSession(base_url=pieces.url) as session:
        yield session


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """The machine-readable wire reference (models, enums)."""
    if not REFERENCE.exists():
        pytest.fail(f"the wire reference is missing: {REFERENCE}")
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data
