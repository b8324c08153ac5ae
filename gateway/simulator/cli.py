"""Command-line wiring of the simulator: ``pieces-grpc-gateway simulate`` and
``python -m gateway.simulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from gateway.simulator.app import Simulator
from gateway.simulator.config import FRAMINGS, FaultConfig, SimulatorConfig

logger = logging.getLogger("gateway.simulator")

DEFAULT_PORT = 1000
"""The port PiecesOS listens on."""


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _status(text: str) -> int:
    value = int(text)
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError(f"expected an HTTP status, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    where = parser.add_argument_group("listening")
    where.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    where.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to bind, 0 for any free one (default: %(default)s, as PiecesOS)",
    )
    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--restore-framing",
        choices=FRAMINGS,
        default="ndjson",
        help="framing of the streamed restore: newline-delimited, concatenated objects, "
        "a JSON array, server-sent events or a single final object (default: %(default)s)",
    )
    behaviour.add_argument(
        "--restore-messages",
        metavar="N",
        type=_non_negative_int,
        default=10,
        help="IN-PROGRESS objects in a streamed restore (default: %(default)s)",
    )
    behaviour.add_argument(
        "--restore-interval",
        metavar="SECONDS",
        type=_non_negative_float,
        default=0.05,
        help="seconds between two streamed restore objects (default: %(default)s)",
    )
    behaviour.add_argument(
        "--applications",
        metavar="N",
        type=_non_negative_int,
        default=3,
        help="registered applications seeded at start (default: %(default)s)",
    )
    behaviour.add_argument(
        "--signed-out",
        action="store_true",
        help="start with no signed-in user (backup routes answer 511, link_provider 401)",
    )
    behaviour.add_argument(
        "--too-old", action="store_true", help="backup routes answer 505 (PiecesOS too old)"
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--latency",
        metavar="SECONDS",
        type=_non_negative_float,
        default=0.0,
        help="seconds added before every answer",
    )
    faults.add_argument(
        "--error-rate",
        metavar="RATE",
        type=_rate,
        default=0.0,
        help="share of requests (0..1) answered with --error-status",
    )
    faults.add_argument(
        "--error-status",
        metavar="STATUS",
        type=_status,
        default=500,
        help="status of injected errors (default: %(default)s)",
    )
    faults.add_argument(
        "--malformed-json",
        type=_rate,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="RATE",
        help="make successful JSON bodies invalid (all of them, or this share)",
    )
    faults.add_argument(
        "--truncated-body",
        action="store_true",
        help="cut successful JSON bodies short while the framing claims them complete",
    )
    faults.add_argument(
        "--drop-after",
        type=_non_negative_int,
        metavar="N",
        help="drop the connection of a streamed restore after N progress objects",
    )
    faults.add_argument(
        "--refuse-stream",
        type=_status,
        metavar="STATUS",
        help="answer the streamed restore with this status instead of streaming",
    )
    faults.add_argument(
        "--fault-routes",
        metavar="ROUTES",
        help="comma-separated route names, templates or path prefixes the faults apply to "
        "(default: all routes)",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The ``SimulatorConfig`` the parsed ``args`` describe; raise ``ValueError`` if invalid."""
    routes = None
    if args.fault_routes:
        routes = frozenset(r.strip() for r in args.fault_routes.split(",") if r.strip())
    faults = FaultConfig(
        latency=args.latency,
        error_rate=args.error_rate,
        error_status=args.error_status,
        malformed_json=args.malformed_json,
        truncated_body=args.truncated_body,
        drop_after=args.drop_after,
        refuse_stream=args.refuse_stream,
        routes=routes,
    )
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        restore_framing=args.restore_framing,
        restore_messages=args.restore_messages,
        restore_interval=args.restore_interval,
        applications=args.applications,
        signed_in=not args.signed_out,
        too_old=args.too_old,
        faults=faults,
    )


async def _serve(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Simulator(config) as simulator:
        logger.info("PiecesOS simulator listening on %s", simulator.url)
        await stop.wait()
        logger.info("PiecesOS simulator stopping")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the process exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        logger.error("invalid simulator settings: %s", exc)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(config))
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gateway.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulator",
        description="Run a stateful simulator of the PiecesOS REST API.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
