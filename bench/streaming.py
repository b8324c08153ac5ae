"""Section 2, streaming: server CPU per message of the streamed restore, against a bare stream.

The simulator streams a restore of 10,000 progress messages (plus INITIALIZED and COMPLETED)
as fast as it can (ndjson, each object cut into 2-3 chunks); the gateway turns it into a gRPC
server stream. The floor is a bare grpc.aio server streaming the same 10,002 messages,
prebuilt. h2load reads one whole stream per phase; the server's CPU comes from /proc.
"""

from __future__ import annotations

import time

from bench import grpc_check, payloads
from bench.common import (
    BenchError,
    Procs,
    Server,
    Settings,
    Table,
    body_file,
    count_delta,
    fmt,
    grpc_frame,
    h2load,
    median,
    ratio,
    start_floor,
    start_gateway,
    start_simulator,
    verdict,
)

MESSAGES = 10_000
TARGET = 1.5
RPC = payloads.RESTORE_STREAMED.rsplit("/", 1)[1]


def run(settings: Settings) -> list[Table]:
    messages = 2_000 if settings.quick else MESSAGES
    per_phase = 1
    with Procs() as procs:
        _simulator, upstream = start_simulator(
            procs, restore_messages=messages, restore_interval=0.0
        )
        floor = start_floor(procs, upstream)
        gateways = [start_gateway(procs, upstream)]
        for label, args in settings.extra_gateways():
            gateways.append(start_gateway(procs, upstream, label=label, runner_args=args))
        request = payloads.restore_request().SerializeToString()
        body = body_file("restore.grpc", grpc_frame(request))
        expected = grpc_check.stream(floor.port, payloads.RESTORE_STREAMED, request)
        for server in gateways:
            got = grpc_check.stream(server.port, payloads.RESTORE_STREAMED, request)
            if got != expected:
                raise BenchError(
                    f"{server.label} streamed {len(got)} messages, the floor {len(expected)}, "
                    "or their bytes differ"
                )
        count = len(expected)

        def phase(server: Server) -> tuple[float, float]:
            """(CPU µs per message, messages per second) of one whole stream."""
            before = server.counts() if server.metrics_port else None
            cpu = server.proc.cpu()
            started = time.monotonic()
            result = h2load(
                f"http://127.0.0.1:{server.port}{payloads.RESTORE_STREAMED}",
                requests=per_phase,
                data=body,
            )
            seconds = time.monotonic() - started
            spent = server.proc.cpu() - cpu
            if result.succeeded != per_phase:
                raise BenchError(f"{server.label}: the stream failed")
            if before is not None:
                delta = count_delta(before, server.counts(), RPC)
                want = {"OK": float(per_phase), "messages": float(count * per_phase)}
                if delta != want:
                    raise BenchError(f"{server.label}: expected {want}, its metrics say {delta}")
            return spent / (count * per_phase) * 1e6, count * per_phase / seconds

        for server in (floor, *gateways):
            phase(server)  # warm-up
        results: dict[str, list[tuple[float, float]]] = {
            server.label: [] for server in (floor, *gateways)
        }
        for number in range(settings.runs):
            for server in (floor, *gateways):
                results[server.label].append(phase(server))
            print(
                f"  run {number + 1}/{settings.runs}: "
                + ", ".join(f"{label} {r[-1][0]:.1f} µs/msg" for label, r in results.items()),
                flush=True,
            )

    table = Table(
        f"Streaming cost: server CPU per message of one streamed restore ({count:,} messages)",
        ["server", "CPU µs/message", "messages/s", "vs bare stream", f"target ≤ {TARGET}x"],
    )
    floor_runs = results["floor"]
    table.add(
        "floor (bare grpc.aio stream)",
        fmt(median([r[0] for r in floor_runs]), 1),
        fmt(median([r[1] for r in floor_runs])),
        "1.00x",
        "",
    )
    for server in gateways:
        runs = results[server.label]
        times = median([g[0] / f[0] for g, f in zip(runs, floor_runs, strict=True)])
        table.add(
            server.label,
            fmt(median([r[0] for r in runs]), 1),
            fmt(median([r[1] for r in runs])),
            ratio(times),
            verdict(times, TARGET, at_most=True),
        )
    table.notes.append(
        "  messages/s through the gateway is bounded by the simulator writing the restore on "
        "the same cores."
    )
    return [table]
