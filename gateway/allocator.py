"""Give the heap memory freed after a burst of calls back to the operating system.

After a burst (say 1,000 concurrent streamed restores) a grpc.aio server's RSS stays where it
was while the calls were open, although almost nothing is still allocated: the freed chunks
sit in glibc's arenas (grpc's C-core threads allocate per-call state in arenas of their own)
below a few live chunks, and glibc only gives back free space at the top of a heap. No
``mallopt`` setting changes that (``M_ARENA_MAX``, ``M_TRIM_THRESHOLD`` and
``M_MMAP_THRESHOLD`` were tried); ``malloc_trim(0)`` does, since it releases every whole free
page of every arena. Called every few seconds it costs about a millisecond of the event loop.

It cannot reach Python's own small-object allocator: a pymalloc arena is unmapped only once
every object in it is freed, so objects that outlive a burst keep some arenas resident.
That is why :mod:`gateway.http1` breaks its reference cycles as connections close.

Where glibc's ``malloc_trim`` is missing (macOS, Windows, musl) all of this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("gateway")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the libc this process already uses
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def can_release() -> bool:
    """Whether :func:`release_memory` can give memory back here (glibc only)."""
    return _malloc_trim() is not None


def release_memory() -> bool:
    """Return the free pages of every glibc arena to the system; True if any were returned."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


async def release_memory_periodically(interval: float) -> None:
    """Call :func:`release_memory` every ``interval`` seconds until cancelled.

    Each call holds the event loop for about 1 ms, a few ms right after a burst. Returns at
    once where there is no ``malloc_trim``.
    """
    if not can_release():
        log.debug("malloc_trim is not available: freed memory stays with the allocator")
        return
    while True:
        await asyncio.sleep(interval)
        release_memory()
