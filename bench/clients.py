"""The ``httpx`` section: client CPU per request of httpx's default transport and its fixes.

Each client configuration (see ``bench.http_client``) runs in a fresh process against the
simulator in another, 32 requests in flight; the CPU is the client process's own. This is
the cost the gateway pays for every upstream exchange, whatever it does with the answer.
"""

from __future__ import annotations

import json
import subprocess

from bench.common import (
    PYTHON,
    ROOT,
    BenchError,
    Procs,
    Settings,
    Table,
    fmt,
    median,
    ratio,
    start_simulator,
)
from bench.http_client import CLIENTS, CONCURRENCY, PATH


def _one(client: str, url: str, requests: int) -> dict[str, float]:
    args = ["--client", client, "--url", url, "--requests", str(requests)]
    done = subprocess.run(
        [PYTHON, "-m", "bench.http_client", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"client {client} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(settings: Settings) -> list[Table]:
    fast = 500 if settings.quick else 2000
    slow = 200 if settings.quick else 500  # httpcore: a few ms of CPU per request
    results: dict[str, list[dict[str, float]]] = {client: [] for client in CLIENTS}
    with Procs() as procs:
        _simulator, url = start_simulator(procs, applications=20)
        for number in range(settings.runs):
            for client in CLIENTS:
                requests = slow if client.startswith("httpx-default") else fast
                results[client].append(_one(client, url, requests))
            print(
                f"  run {number + 1}/{settings.runs}: "
                + ", ".join(f"{c} {r[-1]['cpu_us']:.0f} µs" for c, r in results.items()),
                flush=True,
            )
    default = results["httpx-default"]
    table = Table(
        f"httpx client cost: client CPU per request (GET {PATH}, {CONCURRENCY} in flight, "
        "body read)",
        ["client", "CPU µs/request", "requests/s", "vs httpx default"],
    )
    for client, label in CLIENTS.items():
        runs = results[client]
        table.add(
            label,
            fmt(median([r["cpu_us"] for r in runs])),
            fmt(median([r["rps"] for r in runs])),
            ratio(median([r["cpu_us"] / d["cpu_us"] for r, d in zip(runs, default, strict=True)])),
        )
    table.notes.append(
        "  The default pool allows 100 connections and keeps 20 alive. httpcore's bookkeeping "
        "per request grows with the connections in its pool, so a smaller pool costs less CPU "
        "(requests wait for a connection instead)."
    )
    table.notes.append(
        "  `sniffio` importable: httpcore imports it on every request and, when anyio no longer "
        "installs it, pays for a failed import each time; the row makes the import succeed "
        "(the sniffio package, or a stand-in module with its function when it is absent)."
    )
    return [table]
