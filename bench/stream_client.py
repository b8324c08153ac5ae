"""A grpc.aio client that holds many streamed restores open at once (the scale section).

    python -m bench.stream_client --port 50051 --streams 1000

Prints one line when every stream has received its first message (``open SECONDS``), then one
when every stream has ended (``done OK FAILED MESSAGES SECONDS``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import grpc

from bench import payloads


async def main_async(port: int, streams: int, channels: int, seconds: float) -> None:
    request = payloads.restore_request().SerializeToString()
    opened = 0
    all_open = asyncio.Event()
    started = time.monotonic()
    pool = [
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(channels)
    ]

    async def one(index: int) -> tuple[bool, int]:
        nonlocal opened
        channel = pool[index % channels]
        method: Any = channel.unary_stream(payloads.RESTORE_STREAMED)
        call = method(request, timeout=seconds)
        received = 0
        try:
            async for _message in call:
                received += 1
                if received == 1:
                    opened += 1
                    if opened == streams:
                        all_open.set()
            return True, received
        except grpc.aio.AioRpcError as exc:
            print(f"stream {index}: {exc.code().name} {exc.details()}", flush=True)
            return False, received

    tasks = [asyncio.create_task(one(index)) for index in range(streams)]

    async def report_open() -> None:
        await all_open.wait()
        print(f"open {time.monotonic() - started:.2f}", flush=True)

    reporter = asyncio.create_task(report_open())
    outcomes = await asyncio.gather(*tasks)
    if not reporter.done():
        reporter.cancel()
        print("open never", flush=True)
    ok = sum(1 for success, _ in outcomes if success)
    messages = sum(count for _, count in outcomes)
    print(f"done {ok} {streams - ok} {messages} {time.monotonic() - started:.2f}", flush=True)
    for channel in pool:
        await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_client", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    asyncio.run(main_async(args.port, args.streams, args.channels, args.timeout))


if __name__ == "__main__":
    main()
