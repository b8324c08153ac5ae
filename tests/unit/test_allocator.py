"""Handing freed heap memory back to the system: glibc's malloc_trim, or jemalloc."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway import allocator
from gateway.allocator import can_release, release_memory
from gateway.errors import ConfigError


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_release_memory_returns_freed_heap_pinned_below_live_chunks() -> None:
    assert can_release()
    release_memory()
    # 2,000-byte objects come from malloc's heap (pymalloc takes 512 bytes at most); keeping
    # one in a hundred pins the heap, so glibc does not trim it by itself.
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(60_000)]
    kept = blocks[::100]
    grown = rss_mb()
    del blocks
    pinned = rss_mb()
    assert release_memory()
    released = rss_mb()
    assert pinned - released > 50, (grown, pinned, released)
    assert len(kept) == 600


def test_jemalloc_environment_preloads_it_first_and_keeps_the_callers_settings() -> None:
    caller = {"LD_PRELOAD": "libother.so", "MALLOC_CONF": "narenas:2", "PATH": "/bin"}
    env = allocator.jemalloc_environment(caller, "libjemalloc.so.2")
    assert env["LD_PRELOAD"] == "libjemalloc.so.2:libother.so"
    assert env["PYTHONMALLOC"] == "malloc"
    assert env["MALLOC_CONF"] == "narenas:2"
    assert env["PATH"] == "/bin"
    assert caller["LD_PRELOAD"] == "libother.so", "the caller's mapping was changed"

    fresh = allocator.jemalloc_environment({}, "libjemalloc.so.2")
    assert fresh["LD_PRELOAD"] == "libjemalloc.so.2"
    assert fresh["MALLOC_CONF"] == allocator.JEMALLOC_CONF


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Records what use_jemalloc would execute instead of executing it."""
    calls: list[tuple[list[str], dict[str, str]]] = []

    def record(command: list[str], env: dict[str, str]) -> None:
        calls.append((list(command), env))

    monkeypatch.setattr(allocator, "_execute", record)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    return calls


def test_use_jemalloc_re_executes_the_command_with_it_preloaded(
    executed: list[tuple[list[str], dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: "libjemalloc.so.2")
    allocator.use_jemalloc(["/usr/bin/python3", "-m", "gateway", "serve"])
    [(command, env)] = executed
    assert command == ["/usr/bin/python3", "-m", "gateway", "serve"]
    assert env["LD_PRELOAD"] == "libjemalloc.so.2"
    assert env["PYTHONMALLOC"] == "malloc"


def test_use_jemalloc_without_the_library_says_how_to_install_it(
    executed: list[tuple[list[str], dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: None)
    with pytest.raises(ConfigError, match="apt-get install libjemalloc2"):
        allocator.use_jemalloc(["python", "-m", "gateway", "serve"])
    assert executed == []


def test_use_jemalloc_does_not_loop_when_the_preload_failed(
    executed: list[tuple[list[str], dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the re-executed process sees when the loader ignored LD_PRELOAD.
    monkeypatch.setenv("LD_PRELOAD", "/gone/libjemalloc.so.2")
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: "libjemalloc.so.2")
    with pytest.raises(ConfigError, match="did not load"):
        allocator.use_jemalloc(["python", "-m", "gateway", "serve"])
    assert executed == []
    assert not allocator.on_jemalloc()
