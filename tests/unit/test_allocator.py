"""Handing freed heap memory back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.allocator import can_release, release_memory


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
