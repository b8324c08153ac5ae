"""The floor: a bare grpc.aio server answering the gateway's messages with no upstream.

It serves, on the gateway's own method paths, OsDeviceInformation and ApplicationsSnapshot
(unary, one prebuilt message each) and BackupRestoreSpecificBackupStreamed (a server stream of
the prebuilt progress messages of one restore). The messages are read once from a simulator
at start-up and decoded by the gateway's codec, so what goes on the wire is byte for byte what
the gateway sends; the per-call work left is grpc.aio's own.

    python -m bench.floor_server --port 50061 --upstream http://127.0.0.1:1000
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bench import payloads
from pieces.v1 import applications_pb2, backup_pb2, os_pb2


def handlers(upstream: str, interval: float = 0.0) -> list[grpc.GenericRpcHandler]:
    answers = payloads.unary_answers(upstream)
    progress = payloads.restore_messages(upstream)
    device, applications = answers["OsDeviceInformation"], answers["ApplicationsSnapshot"]

    async def os_device_information(request: Any, context: Any) -> Any:
        return device

    async def applications_snapshot(request: Any, context: Any) -> Any:
        return applications

    async def restore(request: Any, context: Any) -> AsyncIterator[Any]:
        for index, message in enumerate(progress):
            if interval and index:
                await asyncio.sleep(interval)
            yield message

    def unary(behaviour: Any, request_class: Any, response: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=request_class.FromString,
            response_serializer=type(response).SerializeToString,
        )

    return [
        grpc.method_handlers_generic_handler(
            "pieces.v1.OsService",
            {
                "OsDeviceInformation": unary(
                    os_device_information, os_pb2.OsDeviceInformationRequest, device
                )
            },
        ),
        grpc.method_handlers_generic_handler(
            "pieces.v1.ApplicationsService",
            {
                "ApplicationsSnapshot": unary(
                    applications_snapshot,
                    applications_pb2.ApplicationsSnapshotRequest,
                    applications,
                )
            },
        ),
        grpc.method_handlers_generic_handler(
            "pieces.v1.BackupService",
            {
                "BackupRestoreSpecificBackupStreamed": grpc.unary_stream_rpc_method_handler(
                    restore,
                    request_deserializer=(
                        backup_pb2.BackupRestoreSpecificBackupStreamedRequest.FromString
                    ),
                    response_serializer=type(progress[0]).SerializeToString,
                )
            },
        ),
    ]


async def serve(port: int, upstream: str, max_concurrent_rpcs: int | None, interval: float) -> None:
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0)], maximum_concurrent_rpcs=max_concurrent_rpcs
    )
    server.add_generic_rpc_handlers(handlers(upstream, interval))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="simulator URL to read the messages")
    parser.add_argument(
        "--max-concurrent-rpcs", type=int, default=None, help="as the gateway's option"
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop if importable")
    parser.add_argument(
        "--restore-interval", type=float, default=0.0, help="seconds between streamed messages"
    )
    args = parser.parse_args()
    runner: Any = asyncio.run
    if args.uvloop:
        try:
            import uvloop  # type: ignore[import-not-found, unused-ignore]

            runner = uvloop.run
        except ImportError:
            print("uvloop is not installed: running on asyncio", file=sys.stderr)
    runner(serve(args.port, args.upstream, args.max_concurrent_rpcs, args.restore_interval))


if __name__ == "__main__":
    main()
