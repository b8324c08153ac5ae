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

jemalloc reaches what ``malloc_trim`` cannot: with ``--allocator jemalloc`` the command
re-executes itself with ``libjemalloc.so.2`` preloaded and ``PYTHONMALLOC=malloc``, so Python
objects come from jemalloc too, which hands back unused pages (not whole 1 MB arenas) a second
after they are freed. :func:`use_jemalloc` does that and raises
:class:`gateway.errors.ConfigError` when the library cannot be found or loaded.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from gateway.errors import ConfigError

log = logging.getLogger("gateway")

JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
"""jemalloc's settings unless MALLOC_CONF says otherwise: a background thread returns pages
unused for a second, so memory goes back after a burst even when the gateway is idle."""


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
    """Whether :func:`release_memory` can give memory back here (glibc only, not jemalloc)."""
    return _malloc_trim() is not None and not on_jemalloc()


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


def on_jemalloc() -> bool:
    """Whether this process allocates from a preloaded jemalloc, Python objects included."""
    return os.environ.get("PYTHONMALLOC") == "malloc" and _jemalloc_loaded()


def _jemalloc_loaded() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallctl")  # only jemalloc exports mallctl
    except OSError:
        return False


def find_jemalloc() -> str | None:
    """The jemalloc shared library's name as the dynamic loader finds it, or None."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.util.find_library("jemalloc")


def jemalloc_environment(environ: Mapping[str, str], library: str) -> dict[str, str]:
    """``environ`` with ``library`` preloaded first and Python allocating through it."""
    env = dict(environ)
    preload = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = f"{library}:{preload}" if preload else library
    env["PYTHONMALLOC"] = "malloc"
    env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    return env


def use_jemalloc(command: Sequence[str]) -> None:
    """Return if this process runs on jemalloc, else re-execute ``command`` on it.

    ``command`` is the argv that starts this program again (the interpreter first). Raises
    ConfigError when jemalloc is not installed, or was preloaded and still did not load.
    """
    if on_jemalloc():
        return
    preload = os.environ.get("LD_PRELOAD", "")
    if "jemalloc" in preload and os.environ.get("PYTHONMALLOC") == "malloc":
        # Already re-executed (or set up by hand), and the loader ignored the preload.
        raise ConfigError(
            "--allocator jemalloc: LD_PRELOAD names jemalloc but it did not load "
            f"(LD_PRELOAD={preload})"
        )
    library = find_jemalloc()
    if library is None:
        raise ConfigError(
            "--allocator jemalloc: the jemalloc library was not found; install it "
            "(Debian and Ubuntu: apt-get install libjemalloc2) or use --allocator pymalloc"
        )
    _execute(command, jemalloc_environment(os.environ, library))


def _execute(command: Sequence[str], env: dict[str, str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], list(command), env)
