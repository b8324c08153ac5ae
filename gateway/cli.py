"""The ``pieces-grpc-gateway`` command: ``serve``, ``simulate`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from gateway import allocator
from gateway import config as gateway_config
from gateway.errors import ConfigError
from gateway.observability import configure_logging

log = logging.getLogger("gateway")


def build_parser() -> argparse.ArgumentParser:
    from gateway.simulator import cli as simulator_cli

    parser = argparse.ArgumentParser(
        prog="pieces-grpc-gateway",
        description="A typed gRPC gateway in front of the PiecesOS local REST API.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the gRPC API in front of PiecesOS",
        description=(
            "Serve every RPC of the PiecesOS contract over gRPC, translating each call into "
            "the REST call to PiecesOS. Every option can also be set by its environment "
            "variable or as a key in the --config TOML file."
        ),
    )
    gateway_config.add_arguments(serve)
    simulate = commands.add_parser(
        "simulate",
        help="run the embedded PiecesOS simulator",
        description="Run a stateful simulator of the PiecesOS REST API for demos and tests.",
    )
    simulator_cli.add_arguments(simulate)
    demo = commands.add_parser(
        "demo",
        help="run the simulator, the gateway and a sample client, then exit",
        description=(
            "Start the PiecesOS simulator and the gateway on free local ports, list the "
            "registered applications over gRPC and stream a backup restore with a progress bar."
        ),
    )
    demo.add_argument(
        "--restore-messages", type=int, default=20, help="progress updates in the restore"
    )
    demo.add_argument(
        "--restore-interval", type=float, default=0.05, help="seconds between progress updates"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args, command=[sys.executable, "-m", "gateway", *argv])
    if args.command == "simulate":
        from gateway.simulator import cli as simulator_cli

        return simulator_cli.run(args)
    from gateway import demo

    return demo.run(restore_messages=args.restore_messages, restore_interval=args.restore_interval)


def serve(args: argparse.Namespace, command: list[str]) -> int:
    """Run the gateway until SIGTERM or SIGINT; a second signal exits at once.

    ``command`` starts this same ``serve`` again: ``--allocator jemalloc`` re-executes it.
    """
    try:
        config = gateway_config.load_config(args)
        if config.allocator == "jemalloc":
            allocator.use_jemalloc(command)
    except ConfigError as exc:
        print(f"pieces-grpc-gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_format, config.log_level)
    if allocator.on_jemalloc():
        log.info("allocating from jemalloc (MALLOC_CONF=%s)", os.environ.get("MALLOC_CONF", ""))
    try:
        run_on_event_loop(config.event_loop, _serve(config))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return 0


def run_on_event_loop(name: str, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when asked for and installed, else on asyncio's loop."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: serving on the asyncio event loop")
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


async def _serve(config: gateway_config.GatewayConfig) -> None:
    from gateway.server import Gateway

    gateway = Gateway(config)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(128 + signum)
        log.info(
            "%s: draining (up to %.0fs); send it again to exit at once",
            signal.Signals(signum).name,
            config.shutdown_grace,
        )
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    await stop.wait()
    await gateway.stop()
