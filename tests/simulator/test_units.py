"""The simulator's building blocks without a server: framing, operations, knobs, wire forms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.simulator import FaultConfig, Simulator, SimulatorConfig, fixtures, wire
from gateway.simulator.framing import ChunkSplitter, Framer
from gateway.simulator.state import Operation
from gateway.simulator.validation import InvalidBody, validate

documents = st.lists(st.binary(min_size=0, max_size=200), max_size=12)


@given(documents, st.integers(0, 2**32), st.booleans())
def test_chunks_rebuild_the_stream(parts: list[bytes], seed: int, coalesce: bool) -> None:
    splitter = ChunkSplitter(seed, coalesce=coalesce)
    chunks: list[bytes] = []
    for part in parts:
        pieces = splitter.split(part)
        assert all(pieces), "no empty chunk is ever written"
        if not coalesce and len(part) >= 2:
            assert len(pieces) >= 2, "every object straddles a chunk boundary"
        chunks.extend(pieces)
    chunks.extend(splitter.flush(b"]"))
    assert b"".join(chunks) == b"".join(parts) + b"]"


def test_chunks_are_deterministic_for_a_seed() -> None:
    first = ChunkSplitter(5).split(b"x" * 100)
    assert ChunkSplitter(5).split(b"x" * 100) == first
    assert [len(p) for p in ChunkSplitter(6).split(b"x" * 100)] != [len(p) for p in first]


@pytest.mark.parametrize(
    ("framing", "expected"),
    [
        ("ndjson", b'{"a":1}\n{"b":2}\n'),
        ("concat", b'{"a":1}{"b":2}'),
        ("array", b'[{"a":1},{"b":2}]'),
        ("sse", b'data: {"a":1}\n\ndata: {"b":2}\n\n'),
    ],
)
def test_framers(framing: Any, expected: bytes) -> None:
    framer = Framer(framing)
    assert framer.frame(b'{"a":1}') + framer.frame(b'{"b":2}') + framer.end() == expected


def test_empty_array_framing_is_still_an_array() -> None:
    assert Framer("array").end() == b"[]"
    with pytest.raises(ValueError, match="not streamed"):
        Framer("single")


def test_operation_advances_with_time() -> None:
    op = Operation({"id": "b"}, started=100.0, steps=3, interval=1.0)
    assert op.progress(100.5) == ("INITIALIZED", 0.0)
    assert op.progress(101.0) == ("IN-PROGRESS", 25.0)
    assert op.progress(103.9) == ("IN-PROGRESS", 75.0)
    assert op.progress(104.0) == ("COMPLETED", 100.0)
    assert op.in_progress(102.0)
    assert not op.in_progress(104.0)
    op.cancel(at=102.5)
    assert op.progress(110.0) == ("CANCELED", 50.0)
    assert not op.in_progress(102.6)


def test_dart_timestamps() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 3, 456789, tzinfo=UTC)
    assert wire.dart_timestamp(moment) == "2024-05-01T12:00:03.456Z"
    assert wire.readable(moment) == "May 1st, 2024, 12:00 p.m."
    assert wire.readable(datetime(2024, 6, 3, 3, 33, tzinfo=UTC)) == "June 3rd, 2024, 3:33 a.m."
    assert wire.readable(datetime(2024, 6, 11, 0, 5, tzinfo=UTC)) == "June 11th, 2024, 12:05 a.m."
    stamp = wire.grouped_timestamp(moment)
    assert stamp["schema"] == {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"}


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"malformed_json": -0.1}, "malformed_json"),
        ({"error_status": 99}, "error_status"),
        ({"refuse_stream": 700}, "refuse_stream"),
        ({"latency": -1}, "latency"),
    ],
)
def test_fault_config_rejects_out_of_range_values(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultConfig(**knobs)


def test_fault_routes_filter() -> None:
    faults = FaultConfig(error_rate=1, routes=["GET /applications", "/backup/{backup}", "/os/"])
    assert isinstance(faults.routes, frozenset)
    assert faults.applies_to("GET /applications", "/applications", "/applications")
    assert not faults.applies_to("POST /applications/register", "/applications/register", "/x")
    assert faults.applies_to("GET /backup/{backup}", "/backup/{backup}", "/backup/1")
    assert faults.applies_to("GET /os/permissions", "/os/permissions", "/os/permissions")
    assert FaultConfig().applies_to("GET /x", "/x", "/x")
    assert not FaultConfig().active
    assert FaultConfig(drop_after=0).active


@pytest.mark.parametrize(
    "settings",
    [{"restore_framing": "xml"}, {"port": 70000}, {"restore_interval": -1}, {"backups": 0}],
)
def test_simulator_config_rejects_invalid_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case names a different setting
        SimulatorConfig(**settings)


async def test_port_and_url_need_a_started_simulator() -> None:
    sim = Simulator()
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.url
    async with sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}"
        with pytest.raises(RuntimeError, match="already started"):
            await sim.start()
    await sim.stop()


async def test_a_busy_port_raises() -> None:
    async with Simulator() as first:
        with pytest.raises(OSError):  # noqa: PT011 - the errno depends on the platform
            await Simulator(SimulatorConfig(port=first.port)).start()


def test_validation_accepts_unknown_keys_and_reports_nested_paths() -> None:
    assert validate("SeededExternalProvider", {"type": "github", "extra": 1})["extra"] == 1
    with pytest.raises(InvalidBody, match=r"Assets\.iterable\[0\]: expected an Asset object"):
        validate("Assets", {"iterable": [3]})
    with pytest.raises(InvalidBody, match=r"Backup\.created\.value: expected a date-time"):
        validate("Backup", {**fixtures.seeded_backup(0), "created": {"value": "yesterday"}})
