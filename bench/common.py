"""Shared machinery of the benchmarks: processes, CPU and memory from /proc, h2load, tables.

Every server (simulator, gateway, floor servers) and every load generator runs in its own
process, so the CPU a server spends is read from ``/proc/PID/stat`` (utime + stime, all its
threads) before and after a load phase, undisturbed by the load generator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

H2LOAD_HINT = (
    "h2load (from nghttp2) is needed for the unary and streaming sections; on Debian/Ubuntu: "
    "apt-get update && apt-get install -y nghttp2-client"
)


class BenchError(RuntimeError):
    """A benchmark could not run or a check of its results failed."""


# --- numbers ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


_LOG_DIR: Path | None = None


def log_dir() -> Path:
    global _LOG_DIR
    if _LOG_DIR is None:
        _LOG_DIR = Path(tempfile.mkdtemp(prefix="pieces-bench-"))
    return _LOG_DIR


class Proc:
    """A child process whose output goes to a log file; stop it with :meth:`stop`."""

    def __init__(
        self, name: str, args: Sequence[str], *, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_dir() / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check(self) -> None:
        if not self.alive():
            raise BenchError(
                f"{self.name} exited with status {self.popen.returncode}:\n{self.tail()}"
            )

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen on port {port} within {timeout:.0f}s")

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


class Procs:
    """Stops every process started through it on exit, last started first."""

    def __init__(self) -> None:
        self._procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        while self._procs:
            self._procs.pop().stop()

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_simulator(
    procs: Procs,
    *,
    applications: int = 20,
    restore_messages: int = 10,
    restore_interval: float = 0.0,
    name: str = "simulator",
) -> tuple[Proc, str]:
    """A PiecesOS simulator in its own process; answers (process, base URL)."""
    port = free_port()
    proc = procs.add(
        Proc(
            name,
            [
                PYTHON, "-m", "gateway", "simulate",
                "--host", "127.0.0.1", "--port", str(port),
                "--applications", str(applications),
                "--restore-messages", str(restore_messages),
                "--restore-interval", str(restore_interval),
                "--restore-framing", "ndjson",
            ],
        )
    )  # fmt: skip
    proc.wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


@dataclasses.dataclass
class Server:
    """A gRPC server under test: its process, gRPC port and (gateways only) metrics port."""

    label: str
    proc: Proc
    port: int
    metrics_port: int = 0

    def counts(self) -> dict[tuple[str, str], float]:
        return metric_counts(self.metrics_port) if self.metrics_port else {}


def start_gateway(
    procs: Procs,
    upstream: str,
    *,
    label: str = "gateway",
    transport: str | None = None,
    runner_args: Sequence[str] = (),
    gateway_args: Sequence[str] = (),
) -> Server:
    """The gateway in its own process, run by ``bench.run_gateway``."""
    port, metrics_port = free_port(), free_port()
    args = [
        PYTHON, "-m", "bench.run_gateway",
        "--listen", f"127.0.0.1:{port}",
        "--upstream", upstream,
        "--allow-destructive",
        "--metrics-listen", f"127.0.0.1:{metrics_port}",
        "--log-level", "warning",
        *gateway_args,
        *runner_args,
    ]  # fmt: skip
    if transport is not None:
        args += ["--upstream-transport", transport]
    proc = procs.add(Proc(label.replace(" ", "_").replace("/", "_"), args))
    proc.wait_port(port)
    proc.wait_port(metrics_port)
    return Server(label, proc, port, metrics_port)


def start_floor(
    procs: Procs, upstream: str, *, label: str = "floor", args: Sequence[str] = ()
) -> Server:
    """The bare grpc.aio server of ``bench.floor_server``."""
    port = free_port()
    proc = procs.add(
        Proc(
            "floor",
            [
                PYTHON, "-m", "bench.floor_server",
                "--port", str(port),
                "--upstream", upstream,
                *args,
            ],
        )
    )  # fmt: skip
    proc.wait_port(port)
    return Server(label, proc, port)


_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def metric_counts(port: int) -> dict[tuple[str, str], float]:
    """``pieces_gateway_rpcs_total`` by (rpc, code), plus stream messages by (rpc, "messages")."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        tags = dict(_LABEL.findall(labels))
        if name == "pieces_gateway_rpcs_total":
            counts[(tags["rpc"], tags["code"])] = float(value)
        elif name == "pieces_gateway_stream_messages_total":
            counts[(tags["rpc"], "messages")] = float(value)
    return counts


def count_delta(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], rpc: str
) -> dict[str, float]:
    """What changed for one RPC between two scrapes: {code or "messages": delta}."""
    out: dict[str, float] = {}
    for key, value in after.items():
        if key[0] == rpc:
            delta = value - before.get(key, 0.0)
            if delta:
                out[key[1]] = delta
    return out


# --- h2load -----------------------------------------------------------------------------------


def h2load_path() -> str | None:
    return shutil.which("h2load")


def grpc_frame(payload: bytes) -> bytes:
    """One gRPC length-prefixed message: flag byte 0, 4-byte big-endian length, payload."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def body_file(name: str, payload: bytes) -> Path:
    path = log_dir() / name
    path.write_bytes(payload)
    return path


@dataclasses.dataclass
class H2Result:
    requests: int
    succeeded: int
    failed: int
    seconds: float
    latencies_us: list[float]

    @property
    def rps(self) -> float:
        return self.succeeded / self.seconds if self.seconds else 0.0


_REQUESTS = re.compile(
    r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)
_FINISHED = re.compile(r"finished in ([\d.]+)(s|ms|us)")


def h2load(
    url: str,
    *,
    requests: int,
    clients: int = 1,
    streams: int = 1,
    data: Path | None = None,
    grpc: bool = True,
    h1: bool = False,
    latencies: bool = False,
    timeout: float = 300.0,
) -> H2Result:
    """Run h2load once; ``grpc`` adds the gRPC request headers (``data`` is the framed body)."""
    exe = h2load_path()
    if exe is None:
        raise BenchError(H2LOAD_HINT)
    args = [exe, "-n", str(requests), "-c", str(clients), "-m", str(streams), "-t", "1"]
    if grpc:
        args += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    if data is not None:
        args += ["-d", str(data)]
    if h1:
        args.append("--h1")
    log_file = None
    if latencies:
        log_file = log_dir() / f"h2load-{time.monotonic_ns()}.tsv"
        args += ["--log-file", str(log_file)]
    args.append(url)
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    out = done.stdout
    match = _REQUESTS.search(out)
    finished = _FINISHED.search(out)
    if done.returncode != 0 or match is None or finished is None:
        raise BenchError(f"h2load failed ({done.returncode}):\n{out}\n{done.stderr}")
    value, unit = float(finished.group(1)), finished.group(2)
    seconds = value / {"s": 1, "ms": 1e3, "us": 1e6}[unit]
    total, _done, succeeded, failed, errored = (int(g) for g in match.groups())
    samples: list[float] = []
    if log_file is not None:
        for line in log_file.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                samples.append(float(parts[2]))
        log_file.unlink()
    return H2Result(total, succeeded, failed + errored, seconds, samples)


# --- tables -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, *cells: Any) -> None:
        row = [str(cell) for cell in cells]
        self.rows.append(row + [""] * (len(self.columns) - len(row)))

    def text(self) -> str:
        widths = [
            max(len(self.columns[i]), *(len(row[i]) for row in self.rows))
            if self.rows
            else len(self.columns[i])
            for i in range(len(self.columns))
        ]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        out = [self.title, line(self.columns), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        out += self.notes
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"**{self.title}**", ""]
        out.append("| " + " | ".join(self.columns) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            out.append("")
            out += [note.strip() + "  " for note in self.notes]
        return "\n".join(out)


def verdict(value: float, target: float, *, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    return "MET" if met else "NOT MET"


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def ratio(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"  ({label}: {time.monotonic() - started:.0f}s)", flush=True)


def machine() -> dict[str, str]:
    """What the numbers came from."""
    import google.protobuf
    import grpc
    import httpx

    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": sys.version.split()[0],
        "grpcio": grpc.__version__,
        "protobuf": google.protobuf.__version__,
        "httpx": httpx.__version__,
    }
    for name in ("httptools", "httpx_aiohttp", "aiohttp", "httpcore", "anyio", "orjson", "uvloop"):
        with contextlib.suppress(Exception):
            from importlib import metadata

            versions[name.replace("_", "-")] = metadata.version(name.replace("_", "-"))
    h2 = h2load_path()
    if h2:
        done = subprocess.run([h2, "--version"], capture_output=True, text=True, check=False)
        versions["h2load"] = done.stdout.strip().split()[-1] if done.stdout else "?"
    versions["date"] = time.strftime("%Y-%m-%d")
    return versions


@dataclasses.dataclass
class Settings:
    """How long and how often to measure, and which extra gateways to compare."""

    runs: int = 5
    seconds: float = 2.0
    """Target length of one load phase."""
    quick: bool = False
    gateway_paths: list[str] = dataclasses.field(default_factory=list)
    """Patched copies of the ``gateway`` package measured beside this checkout's."""
    variants: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)
    """Further gateways: (label, ``bench.run_gateway`` arguments)."""
    transports: bool = True
    """Measure the httpx transport table in the unary section."""

    def extra_gateways(self) -> list[tuple[str, list[str]]]:
        """(label, run_gateway arguments) of each patched copy."""
        paths = [(f"gateway @ {path}", ["--gateway-path", path]) for path in self.gateway_paths]
        return paths + self.variants
