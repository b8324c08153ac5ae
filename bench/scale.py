"""Section 4, scale: gateway RSS with 1,000 concurrent open restore streams, and after.

A slow simulator (one progress object every 0.5 s) keeps every restore open for about ten
seconds; one grpc.aio client process opens 1,000 of them on one channel. The gateway's VmRSS
is read at baseline (started, warmed up by a few short restores), while all 1,000 streams are
open (the highest of several samples), and a few seconds after every stream has ended. The
same gateway serves every run, so growth from run to run would show a leak. The bare
grpc.aio floor server, streaming the same messages at the same pace, is measured the same way
for reference.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import urllib.request
from typing import Any

from bench.common import (
    PYTHON,
    ROOT,
    BenchError,
    Procs,
    Server,
    Settings,
    Table,
    count_delta,
    fmt,
    median,
    start_floor,
    start_gateway,
    start_simulator,
)
from gateway.allocator import find_jemalloc

STREAMS = 1_000
INTERVAL = 0.5
MESSAGES = 20
"""IN-PROGRESS objects per restore: with INTERVAL, each stream lasts about 10.5 s."""
SETTLE = 3.0
"""Seconds after the last stream ended before the "after" RSS is read."""
TARGET_MB = 300
RETURN_TOLERANCE_MB = 10
"""How close to baseline "after" must be to count as returned."""
RPC = "BackupRestoreSpecificBackupStreamed"
JEMALLOC_LABEL = "gateway --allocator jemalloc"
MB = 1024 * 1024


def _set_simulator(upstream: str, changes: dict[str, float]) -> None:
    request = urllib.request.Request(
        upstream + "/__simulator__/state",
        data=json.dumps(changes).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


class Client:
    """``bench.stream_client`` in its own process, its output lines in a queue."""

    def __init__(self, port: int, streams: int) -> None:
        self.popen = subprocess.Popen(
            [PYTHON, "-m", "bench.stream_client", "--port", str(port), "--streams", str(streams)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def wait_for(self, word: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.popen.kill()
                raise BenchError(f"the stream client did not say {word!r} in {timeout:.0f}s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            parts = line.split()
            if parts and parts[0] == word:
                return parts
            self.errors.append(line)

    def close(self) -> None:
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()


def _one_run(gateway: Server, streams: int) -> dict[str, float]:
    pid_rss = gateway.proc.rss
    before = gateway.counts() if gateway.metrics_port else None
    client = Client(gateway.port, streams)
    try:
        opened = client.wait_for("open", 120)
        samples = [pid_rss()]
        open_started = time.monotonic()
        while time.monotonic() - open_started < 2.0:
            time.sleep(0.25)
            samples.append(pid_rss())
        done = client.wait_for("done", 180)
    finally:
        client.close()
    ok, failed = int(done[1]), int(done[2])
    if failed or ok != streams:
        raise BenchError(f"{failed} of {streams} streams failed: {client.errors[:3]}")
    time.sleep(SETTLE)
    if before is not None:
        delta = count_delta(before, gateway.counts(), RPC)
        if delta.get("OK") != float(streams):
            raise BenchError(f"expected {streams} OK streams, the gateway's metrics say {delta}")
    return {
        "open_seconds": float(opened[1]),
        "open_rss": max(samples),
        "after_rss": pid_rss(),
        "stream_seconds": float(done[4]),
    }


def run(settings: Settings) -> list[Table]:
    measured: list[tuple[Server, int, list[dict[str, float]]]] = []
    with Procs() as procs:
        _simulator, upstream = start_simulator(
            procs, restore_messages=MESSAGES, restore_interval=INTERVAL, name="slow-simulator"
        )
        gateways = [("gateway", []), *settings.extra_gateways()]
        if find_jemalloc() is not None:
            gateways.insert(1, (JEMALLOC_LABEL, ["--allocator", "jemalloc"]))
        else:
            print("  libjemalloc2 is not installed: no --allocator jemalloc column", flush=True)
        servers = [
            start_gateway(procs, upstream, label=label, runner_args=args)
            for label, args in gateways
        ]
        servers.append(
            start_floor(
                procs,
                upstream,
                label="floor (bare grpc.aio stream)",
                args=["--restore-interval", str(INTERVAL)],
            )
        )
        for server in servers:
            baseline, results = _measure(settings, server, upstream)
            measured.append((server, baseline, results))
            server.proc.stop()
    return [_table(settings, measured)]


def _measure(
    settings: Settings, server: Server, upstream: str
) -> tuple[int, list[dict[str, float]]]:
    """Baseline RSS, then one result per run of STREAMS concurrent streams."""
    _set_simulator(upstream, {"restore_messages": 2, "restore_interval": 0.01})
    client = Client(server.port, 20)
    client.wait_for("done", 60)
    client.close()
    _set_simulator(upstream, {"restore_messages": MESSAGES, "restore_interval": INTERVAL})
    time.sleep(1.0)
    baseline = server.proc.rss()
    print(f"  {server.label}: baseline RSS {baseline / MB:.1f} MB", flush=True)
    results: list[dict[str, float]] = []
    for number in range(settings.runs):
        result = _one_run(server, STREAMS)
        results.append(result)
        print(
            f"  run {number + 1}/{settings.runs}: {STREAMS} open after "
            f"{result['open_seconds']:.1f}s, RSS open {result['open_rss'] / MB:.1f} MB, "
            f"after {result['after_rss'] / MB:.1f} MB",
            flush=True,
        )
    return baseline, results


def _table(settings: Settings, measured: list[tuple[Server, int, list[dict[str, float]]]]) -> Table:
    table = Table(
        f"Scale: RSS (MB) with {STREAMS:,} concurrent restore streams (one message every "
        f"{INTERVAL}s per stream, {MESSAGES + 2} messages each)",
        ["measure", *(server.label for server, _b, _r in measured)],
    )
    columns: list[dict[str, Any]] = []
    for _server, baseline, results in measured:
        base = baseline / MB
        open_mb = median([r["open_rss"] for r in results]) / MB
        after = median([r["after_rss"] for r in results]) / MB
        columns.append(
            {
                "base": base,
                "open": open_mb,
                "per": (open_mb - base) * 1024 / STREAMS,
                "after": after,
                "above": after - base,
                "each": ", ".join(f"{r['after_rss'] / MB:.0f}" for r in results),
                "seconds": median([r["open_seconds"] for r in results]),
            }
        )
    # The targets are the gateway's: the floor's column (the last) is not judged.
    judged = [*columns[:-1], None]

    def verdicts(met: Any) -> list[str]:
        return ["" if c is None else "MET" if met(c) else "NOT MET" for c in judged]

    table.add("RSS at baseline", *(fmt(c["base"], 1) for c in columns))
    table.add(f"RSS with {STREAMS:,} streams open", *(fmt(c["open"], 1) for c in columns))
    table.add(f"  target < {TARGET_MB} MB", *verdicts(lambda c: c["open"] < TARGET_MB))
    table.add("  per open stream (KB)", *(fmt(c["per"], 1) for c in columns))
    table.add(f"RSS {SETTLE:g}s after they end", *(fmt(c["after"], 1) for c in columns))
    table.add("  above baseline", *(fmt(c["above"], 1) for c in columns))
    table.add(
        f"  target ≤ {RETURN_TOLERANCE_MB} MB above",
        *verdicts(lambda c: c["above"] <= RETURN_TOLERANCE_MB),
    )
    table.add("  after each run, in order", *(str(c["each"]) for c in columns))
    table.add(f"seconds to open all {STREAMS:,}", *(fmt(c["seconds"], 2) for c in columns))
    table.notes.append(
        f"  Medians over {settings.runs} runs, each server keeping its process through its runs; "
        "'open' is the highest of the samples taken while every stream was open. The floor is "
        "a bare grpc.aio server streaming the same messages at the same pace."
    )
    return table
