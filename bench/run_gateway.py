"""Run one gateway in this process, with the settings the benchmarks compare.

Takes every option of ``pieces-grpc-gateway serve`` plus:

``--upstream-transport http1|aiohttp|httpcore``
    the httpx transport of the upstream client: ``http1`` (gateway.http1, the gateway's
    default), ``aiohttp`` (httpx-aiohttp) or ``httpcore`` (httpx's own default transport);
``--sniffio stub``
    make ``import sniffio`` succeed, as it does when the ``sniffio`` package is installed
    (the real package when it is importable, else a module with the same
    ``current_async_library``); without it httpcore retries the failed import on every request;
``--gateway-path DIR``
    import the ``gateway`` package (or anything else) from ``DIR`` first, e.g. a patched copy
    of ``gateway/``; may be repeated;
``--uvloop``
    run on uvloop when it is importable (otherwise the gateway's ``--event-loop`` decides,
    as ``serve`` does);
``--malloc-trim SECONDS``
    call glibc's ``malloc_trim(0)`` every SECONDS (returns freed heap memory to the system);
``--profile PATH``
    cProfile the event-loop thread between SIGUSR1 and SIGUSR2 and write the stats to PATH.

SIGTERM stops the gateway (grace 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import cProfile
import dataclasses
import functools
import os
import signal
import sys
import threading
import types
from typing import Any


def install_sniffio() -> str:
    """Make ``import sniffio`` succeed; answer which module it is."""
    try:
        import sniffio  # type: ignore[import-not-found, unused-ignore]  # noqa: F401

        return "sniffio (installed)"
    except ImportError:
        pass
    module = types.ModuleType("sniffio")
    thread_local = threading.local()
    thread_local.name = None
    cvar: contextvars.ContextVar[str | None] = contextvars.ContextVar(
        "current_async_library_cvar", default=None
    )

    class AsyncLibraryNotFoundError(RuntimeError):
        pass

    def current_async_library() -> str:
        # The logic of sniffio 1.3's current_async_library, asyncio only.
        value = getattr(thread_local, "name", None)
        if value is not None:
            return str(value)
        value = cvar.get()
        if value is not None:
            return value
        if "asyncio" in sys.modules:
            try:
                task = asyncio.current_task()
            except RuntimeError:
                task = None
            if task is not None:
                return "asyncio"
        raise AsyncLibraryNotFoundError("unknown async library, or not in async context")

    module.current_async_library = current_async_library  # type: ignore[attr-defined]
    module.current_async_library_cvar = cvar  # type: ignore[attr-defined]
    module.thread_local = thread_local  # type: ignore[attr-defined]
    module.AsyncLibraryNotFoundError = AsyncLibraryNotFoundError  # type: ignore[attr-defined]
    sys.modules["sniffio"] = module
    return "sniffio (stand-in module)"


async def _trim_every(seconds: float) -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    while True:
        await asyncio.sleep(seconds)
        libc.malloc_trim(0)


def main() -> None:
    bench = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    bench.add_argument(
        "--upstream-transport", choices=("http1", "aiohttp", "httpcore"), default=None
    )
    bench.add_argument("--sniffio", choices=("stub",), default=None)
    bench.add_argument("--gateway-path", action="append", default=[])
    bench.add_argument("--uvloop", action="store_true")
    bench.add_argument("--profile", default=None)
    bench.add_argument("--malloc-trim", type=float, default=0.0)
    options, rest = bench.parse_known_args()

    for path in reversed(options.gateway_path):
        sys.path.insert(0, path)
    if options.sniffio:
        print("using", install_sniffio(), file=sys.stderr)

    from gateway import config as gateway_config
    from gateway import server as gateway_server
    from gateway.observability import configure_logging

    names = {field.name for field in dataclasses.fields(gateway_config.GatewayConfig)}
    if options.upstream_transport and "upstream_transport" in names:
        rest += ["--upstream-transport", options.upstream_transport]
    elif options.upstream_transport:
        # Not a gateway option (yet): choose it where the server builds its upstream settings.
        settings_class = gateway_server.UpstreamSettings  # type: ignore[attr-defined]
        chosen = functools.partial(settings_class, transport=options.upstream_transport)
        setattr(gateway_server, "UpstreamSettings", chosen)  # noqa: B010

    parser = argparse.ArgumentParser(prog="python -m bench.run_gateway", description=__doc__)
    gateway_config.add_arguments(parser)
    config = gateway_config.load_config(parser.parse_args(rest))
    configure_logging(config.log_format, config.log_level)
    if getattr(config, "allocator", "pymalloc") == "jemalloc":
        from gateway import allocator

        allocator.use_jemalloc([sys.executable, "-m", "bench.run_gateway", *sys.argv[1:]])

    profiling: list[cProfile.Profile] = []

    def start_profile() -> None:
        profiler = cProfile.Profile()
        profiling[:] = [profiler]
        profiler.enable()

    def dump_profile() -> None:
        if profiling:
            profiler = profiling.pop()
            profiler.disable()
            profiler.dump_stats(options.profile + ".part")
            os.replace(options.profile + ".part", options.profile)

    async def run() -> None:
        gateway = gateway_server.Gateway(config)
        await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        if options.profile:
            loop.add_signal_handler(signal.SIGUSR1, start_profile)
            loop.add_signal_handler(signal.SIGUSR2, dump_profile)
        trimmer = None
        if options.malloc_trim:
            trimmer = asyncio.create_task(_trim_every(options.malloc_trim))
        await stop.wait()
        if trimmer is not None:
            trimmer.cancel()
        await gateway.stop(grace=0)

    loop_name = "uvloop" if options.uvloop else getattr(config, "event_loop", "asyncio")
    runner: Any = asyncio.run
    if loop_name == "uvloop":
        try:
            import uvloop  # type: ignore[import-not-found, unused-ignore]

            runner = uvloop.run
        except ImportError:
            print("uvloop is not installed: running on asyncio", file=sys.stderr)
    runner(run())


if __name__ == "__main__":
    main()
