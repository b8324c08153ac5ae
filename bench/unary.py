"""Section 1, unary: server CPU per call, latency and throughput, against the floor.

Servers, each in its own process: the PiecesOS simulator (20 applications), the floor (a bare
grpc.aio server answering the same messages with no upstream), the gateway, and gateways
whose upstream client uses other httpx transports. h2load drives them with a pre-framed gRPC
request over one HTTP/2 connection (as one gRPC channel does); the CPU a server spends during
a phase comes from /proc. The gateway's own metrics confirm every call ended OK.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from bench import grpc_check, payloads
from bench.common import (
    BenchError,
    Proc,
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
    percentile,
    ratio,
    start_floor,
    start_gateway,
    start_simulator,
    verdict,
)
from gateway.allocator import find_jemalloc

RPCS = ("OsDeviceInformation", "ApplicationsSnapshot")
TARGET = 2.0
STRETCH = 1.5
BUSY = 32
UVLOOP_FLOOR = "floor on uvloop"
"""Concurrent calls (HTTP/2 streams on one connection) of the CPU and throughput phases."""

VARIANTS: tuple[tuple[str, list[str], list[str]], ...] = (
    # label, run_gateway arguments, gateway options
    ("httpx default transport (httpcore)", ["--upstream-transport", "httpcore"], []),
    (
        "httpcore + `sniffio` importable",
        ["--upstream-transport", "httpcore", "--sniffio", "stub"],
        [],
    ),
    ("httpx-aiohttp transport", ["--upstream-transport", "aiohttp"], []),
    ("HTTP1Transport (httptools)", ["--upstream-transport", "http1"], []),
    ("on the asyncio event loop", [], ["--event-loop", "asyncio"]),
    ("on jemalloc (`--allocator jemalloc`)", [], ["--allocator", "jemalloc"]),
)
"""Gateway settings compared in the settings table, besides the gateway as it is; a row that
would repeat the gateway's own default is left out."""


@dataclasses.dataclass
class Phase:
    cpu_us: float
    rps: float
    p50_ms: float
    p99_ms: float


class Load:
    """h2load against one URL, with the request count set from a warm-up run."""

    def __init__(
        self,
        url: str,
        proc: Proc,
        *,
        streams: int,
        clients: int = 1,
        body: Path | None = None,
        server: Server | None = None,
        rpc: str = "",
        http1: bool = False,
    ) -> None:
        self.url = url
        self.proc = proc
        self.streams = streams
        self.clients = clients
        self.body = body
        self.server = server
        self.rpc = rpc
        self.http1 = http1
        self.requests = 200

    def _h2load(self, requests: int, latencies: bool = False):  # type: ignore[no-untyped-def]
        return h2load(
            self.url,
            requests=requests,
            clients=self.clients,
            streams=self.streams,
            data=self.body,
            grpc=not self.http1,
            h1=self.http1,
            latencies=latencies,
        )

    def calibrate(self, seconds: float) -> None:
        """Warm the server up and size the measured phases to about ``seconds`` each."""
        warm = max(100, 10 * self.streams * self.clients)
        result = self._h2load(warm)
        rate = result.rps or 100.0
        self.requests = int(min(max(rate * seconds, 10 * self.streams * self.clients, 100), 50_000))

    def measure(self) -> Phase:
        server = self.server
        before = server.counts() if server is not None and server.metrics_port else None
        started = self.proc.cpu()
        result = self._h2load(self.requests, latencies=True)
        spent = self.proc.cpu() - started
        if result.failed or result.succeeded != self.requests:
            raise BenchError(
                f"{self.url}: {result.succeeded} of {self.requests} requests succeeded"
            )
        if before is not None and server is not None:
            delta = count_delta(before, server.counts(), self.rpc)
            if delta != {"OK": float(self.requests)}:
                raise BenchError(
                    f"{server.label} {self.rpc}: expected {self.requests} OK calls, "
                    f"its metrics say {delta}"
                )
        return Phase(
            cpu_us=spent / self.requests * 1e6,
            rps=result.rps,
            p50_ms=percentile(result.latencies_us, 0.50) / 1000,
            p99_ms=percentile(result.latencies_us, 0.99) / 1000,
        )


def _defaults() -> dict[str, str]:
    """The gateway's own upstream transport and event loop, unless told otherwise."""
    from gateway.config import GatewayConfig
    from gateway.upstream import UpstreamSettings

    return {
        "--upstream-transport": str(UpstreamSettings().transport),
        "--event-loop": str(getattr(GatewayConfig(), "event_loop", "asyncio")),
    }


def _variants() -> list[tuple[str, list[str], list[str]]]:
    defaults = _defaults()
    chosen = []
    for label, runner_args, options in VARIANTS:
        pairs = dict(zip(runner_args[::2], runner_args[1::2], strict=False))
        pairs.update(zip(options[::2], options[1::2], strict=False))
        if any(defaults.get(flag) == value for flag, value in pairs.items()):
            continue
        if "--event-loop" in pairs and "event_loop" not in _config_fields():
            continue
        if "--allocator" in pairs and find_jemalloc() is None:
            continue
        chosen.append((label, runner_args, options))
    return chosen


def _config_fields() -> set[str]:
    from gateway.config import GatewayConfig

    return {field.name for field in dataclasses.fields(GatewayConfig)}


def _uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run(settings: Settings) -> list[Table]:
    with Procs() as procs:
        simulator, upstream = start_simulator(procs, applications=20, restore_messages=10)
        floor = start_floor(procs, upstream)
        gateways = [start_gateway(procs, upstream)]
        for label, args in settings.extra_gateways():
            gateways.append(start_gateway(procs, upstream, label=label, runner_args=args))
        transports = [
            start_gateway(procs, upstream, label=label, runner_args=args, gateway_args=options)
            for label, args, options in (_variants() if settings.transports else [])
        ]
        floors = [floor]
        if _uvloop_installed():
            floors.append(start_floor(procs, upstream, label=UVLOOP_FLOOR, args=["--uvloop"]))
        servers = [*floors, *gateways, *transports]

        bodies: dict[str, Path] = {}
        for rpc in RPCS:
            path, request, _rest = payloads.UNARY[rpc]
            raw = request.SerializeToString()
            bodies[rpc] = body_file(f"{rpc}.grpc", grpc_frame(raw))
            expected = grpc_check.unary(floor.port, path, raw)
            for server in servers[1:]:
                if grpc_check.unary(server.port, path, raw) != expected:
                    raise BenchError(f"{server.label} answers {rpc} differently from the floor")

        def grpc_load(server: Server, rpc: str, streams: int) -> Load:
            path = payloads.UNARY[rpc][0]
            return Load(
                f"http://127.0.0.1:{server.port}{path}",
                server.proc,
                streams=streams,
                body=bodies[rpc],
                server=server,
                rpc=rpc,
            )

        # (server label, rpc, concurrency) -> load; "upstream" is the simulator over HTTP/1.1.
        loads: dict[tuple[str, str, int], Load] = {}
        for rpc in RPCS:
            for server in (*floors, *gateways):
                loads[(server.label, rpc, BUSY)] = grpc_load(server, rpc, BUSY)
            loads[("upstream", rpc, BUSY)] = Load(
                upstream + payloads.UNARY[rpc][2],
                simulator,
                streams=1,
                clients=BUSY,
                http1=True,
            )
            for server in (floor, *gateways):
                loads[(server.label, rpc, 1)] = grpc_load(server, rpc, 1)
        for server in transports:
            loads[(server.label, RPCS[0], BUSY)] = grpc_load(server, RPCS[0], BUSY)

        print(f"  warming up {len(loads)} load phases", flush=True)
        for load in loads.values():
            load.calibrate(settings.seconds)

        results: dict[tuple[str, str, int], list[Phase]] = {key: [] for key in loads}
        for number in range(settings.runs):
            for key, load in loads.items():
                results[key].append(load.measure())
            floor_cpu = results[("floor", RPCS[0], BUSY)][-1].cpu_us
            gateway_cpu = results[(gateways[0].label, RPCS[0], BUSY)][-1].cpu_us
            print(
                f"  run {number + 1}/{settings.runs}: {RPCS[0]} floor {floor_cpu:.0f} µs, "
                f"gateway {gateway_cpu:.0f} µs per call",
                flush=True,
            )

    tables = [_cost_table(results, gateways, len(floors) > 1), _latency_table(results, gateways)]
    if transports:
        tables.append(_transport_table(results, gateways[0], transports))
    return tables


def _ratios(
    results: dict[tuple[str, str, int], list[Phase]],
    top: tuple[str, str, int],
    bottom: tuple[str, str, int],
    attribute: str,
) -> float:
    """Median of the per-run ratios top/bottom of one attribute."""
    return median(
        [
            getattr(a, attribute) / getattr(b, attribute)
            for a, b in zip(results[top], results[bottom], strict=True)
        ]
    )


def _cost_table(
    results: dict[tuple[str, str, int], list[Phase]], gateways: list[Server], uvloop_floor: bool
) -> Table:
    columns = ["RPC", "server", "CPU µs/call", "vs floor"]
    if uvloop_floor:
        columns.append("vs floor on uvloop")
    table = Table(
        f"Unary cost: server CPU per call (h2load, {BUSY} concurrent calls on one connection)",
        [*columns, f"target ≤ {TARGET}x", f"stretch ≤ {STRETCH}x"],
    )
    for rpc in RPCS:
        floor_key = ("floor", rpc, BUSY)
        uvloop_key = (UVLOOP_FLOOR, rpc, BUSY)
        floor = results[floor_key]
        cells = [rpc, "floor (bare grpc.aio)", fmt(median([p.cpu_us for p in floor])), "1.00x"]
        if uvloop_floor:
            cells.append(ratio(_ratios(results, floor_key, uvloop_key, "cpu_us")))
        table.add(*cells)
        if uvloop_floor:
            uvloop = results[uvloop_key]
            table.add(
                rpc,
                "floor (bare grpc.aio) on uvloop",
                fmt(median([p.cpu_us for p in uvloop])),
                ratio(_ratios(results, uvloop_key, floor_key, "cpu_us")),
                "1.00x",
            )
        for server in gateways:
            key = (server.label, rpc, BUSY)
            times = _ratios(results, key, floor_key, "cpu_us")
            cells = [rpc, server.label, fmt(median([p.cpu_us for p in results[key]])), ratio(times)]
            if uvloop_floor:
                cells.append(ratio(_ratios(results, key, uvloop_key, "cpu_us")))
            table.add(
                *cells,
                verdict(times, TARGET, at_most=True),
                verdict(times, STRETCH, at_most=True),
            )
    table.notes.append(
        "  Medians over the runs; each ratio is the median of the ratios measured within each "
        "run. The targets are judged against the bare grpc.aio floor on asyncio's own loop; the "
        "floor on uvloop is shown for reference."
    )
    return table


def _latency_table(
    results: dict[tuple[str, str, int], list[Phase]], gateways: list[Server]
) -> Table:
    table = Table(
        "Unary latency and throughput (h2load; latency in ms)",
        [
            "RPC",
            "server",
            "p50 @1",
            "p99 @1",
            f"p50 @{BUSY}",
            f"p99 @{BUSY}",
            f"calls/s @{BUSY}",
            "vs upstream direct",
        ],
    )
    for rpc in RPCS:
        for label in ("floor", *(server.label for server in gateways)):
            one, busy = results[(label, rpc, 1)], results[(label, rpc, BUSY)]
            table.add(
                rpc,
                label,
                fmt(median([p.p50_ms for p in one]), 2),
                fmt(median([p.p99_ms for p in one]), 2),
                fmt(median([p.p50_ms for p in busy]), 2),
                fmt(median([p.p99_ms for p in busy]), 2),
                fmt(median([p.rps for p in busy])),
                ratio(_ratios(results, (label, rpc, BUSY), ("upstream", rpc, BUSY), "rps")),
            )
        direct = results[("upstream", rpc, BUSY)]
        table.add(
            rpc,
            f"simulator direct, HTTP/1.1 ({BUSY} connections)",
            "",
            "",
            fmt(median([p.p50_ms for p in direct]), 2),
            fmt(median([p.p99_ms for p in direct]), 2),
            fmt(median([p.rps for p in direct])),
            "1.00x",
        )
    table.notes.append(
        "  @1 = one call at a time, @32 = 32 concurrent calls. All processes share the machine's "
        "cores, so calls/s through the gateway also pays for the simulator and h2load."
    )
    return table


def _transport_table(
    results: dict[tuple[str, str, int], list[Phase]], gateway: Server, variants: list[Server]
) -> Table:
    rpc = RPCS[0]
    defaults = _defaults()
    table = Table(
        f"Gateway settings: upstream transport, event loop, allocator "
        f"({rpc}, {BUSY} concurrent calls)",
        ["gateway", "CPU µs/call", "vs floor", "calls/s", "vs gateway as it is"],
    )
    mine = (gateway.label, rpc, BUSY)
    rows = [
        (
            f"as it is (`{defaults['--upstream-transport']}` transport, "
            f"{defaults['--event-loop']})",
            mine,
        ),
        *((server.label, (server.label, rpc, BUSY)) for server in variants),
    ]
    for label, key in rows:
        table.add(
            label,
            fmt(median([p.cpu_us for p in results[key]])),
            ratio(_ratios(results, key, ("floor", rpc, BUSY), "cpu_us")),
            fmt(median([p.rps for p in results[key]])),
            ratio(_ratios(results, key, mine, "cpu_us")),
        )
    return table
