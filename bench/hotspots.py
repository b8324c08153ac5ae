"""Where the gateway's CPU goes per unary call: cProfile of the event-loop thread under load.

The gateway runs in its own process (``bench.run_gateway --profile``); after a warm-up,
SIGUSR1 starts the profiler, h2load sends OsDeviceInformation and ApplicationsSnapshot calls
(32 at a time), SIGUSR2 stops it and writes the stats. Times are per call, with the
profiler's own overhead included (so they add up to more than the unary section's figure);
use them to rank, not as costs. The gateway serves on asyncio's own event loop here, whose
callbacks the profiler sees (uvloop runs them in C, out of its sight). For native frames
(grpc's C core, aiohttp's C parser), run ``py-spy record --native -p PID`` against a gateway
under the same load.
"""

from __future__ import annotations

import collections
import pstats
import signal
import time

from bench import payloads
from bench.common import (
    BenchError,
    Procs,
    Settings,
    Table,
    body_file,
    fmt,
    grpc_frame,
    h2load,
    log_dir,
    start_gateway,
    start_simulator,
)

GROUPS = (
    # (label, path fragment of the function's file); the first match wins.
    ("upstream transport (gateway/http1.py)", "/gateway/http1.py"),
    ("gateway (handler, transcoder, codec, errors)", "/gateway/"),
    # The codec's encoders and the wire writers are compiled from source at start-up.
    ("gateway (handler, transcoder, codec, errors)", "<wire writer of "),
    ("gateway (handler, transcoder, codec, errors)", "<writer of "),
    ("httpx-aiohttp transport", "/httpx_aiohttp/"),
    ("httpx (Request, Response, Headers, URL)", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("aiohttp client", "/aiohttp/"),
    ("yarl / multidict", "/yarl/"),
    ("yarl / multidict", "/multidict/"),
    ("prometheus_client", "/prometheus_client/"),
    ("grpc (Python layer)", "/grpc/"),
    ("asyncio event loop", "/asyncio/"),
)


def _asyncio_loop() -> list[str]:
    """Serve on asyncio's own loop, whose callbacks the profiler sees (uvloop's it does not)."""
    from gateway.config import GatewayConfig

    return ["--event-loop", "asyncio"] if hasattr(GatewayConfig(), "event_loop") else []


def _group(filename: str) -> str:
    for label, fragment in GROUPS:
        if fragment in filename:
            return label
    if filename == "~":
        return "C functions called from Python (incl. grpc's Cython core, sockets)"
    return "other Python"


def run(settings: Settings) -> list[Table]:
    calls = 2_000 if settings.quick else 8_000
    tables: list[Table] = []
    with Procs() as procs:
        _simulator, upstream = start_simulator(procs, applications=20)
        extra = settings.extra_gateways()
        targets = [("gateway", []), *extra[:1]]
        for label, args in targets:
            stats_path = log_dir() / f"hotspots-{label.replace('/', '_').replace(' ', '_')}.prof"
            server = start_gateway(
                procs,
                upstream,
                label=label,
                runner_args=[*args, "--profile", str(stats_path)],
                gateway_args=_asyncio_loop(),
            )
            for rpc in ("OsDeviceInformation", "ApplicationsSnapshot"):
                path, request, _rest = payloads.UNARY[rpc]
                body = body_file(f"{rpc}.grpc", grpc_frame(request.SerializeToString()))
                url = f"http://127.0.0.1:{server.port}{path}"
                h2load(url, requests=500, streams=32, data=body)
                if stats_path.exists():
                    stats_path.unlink()
                server.proc.signal(signal.SIGUSR1)
                time.sleep(0.2)
                h2load(url, requests=calls, streams=32, data=body)
                server.proc.signal(signal.SIGUSR2)
                deadline = time.monotonic() + 30
                while not stats_path.exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not stats_path.exists():
                    raise BenchError(f"{label}: no profile written")
                tables += _tables(pstats.Stats(str(stats_path)), calls, f"{label}, {rpc}")
            server.proc.stop()
    return tables


def _tables(stats: pstats.Stats, calls: int, what: str) -> list[Table]:
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tottime for (_cc, _nc, tottime, _ct, _callers) in entries.values())
    groups: collections.Counter[str] = collections.Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in entries.items():
        groups[_group(filename)] += tottime
    by_group = Table(
        f"Hotspots ({what}): profiled time per call by component (own time)",
        ["component", "µs/call", "share"],
    )
    for label, seconds in groups.most_common():
        by_group.add(label, fmt(seconds / calls * 1e6, 1), f"{seconds / total:.0%}")
    by_group.add("total (profiled)", fmt(total / calls * 1e6, 1), "100%")

    top = Table(
        f"Hotspots ({what}): top functions by own time",
        ["function", "calls/call", "own µs/call", "cumulative µs/call"],
    )
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in ranked[:25]:
        where = name if filename == "~" else f"{name} ({_short(filename)}:{line})"
        top.add(
            where,
            fmt(ncalls / calls, 1),
            fmt(tottime / calls * 1e6, 1),
            fmt(cumtime / calls * 1e6, 1),
        )
    return [by_group, top]


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/gateway/", "/lib/python3"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return ("gateway/" + tail) if marker == "/gateway/" else tail
    return filename
