"""Sanity calls over a real gRPC channel: status codes and response bytes of a server under test.

h2load does not read ``grpc-status``; these calls (and the gateway's own metrics) make sure a
load phase measured successful calls, and that the floor answers what the gateway answers.
"""

from __future__ import annotations

from typing import Any

import grpc


def unary(port: int, path: str, request: bytes, timeout: float = 30.0) -> bytes:
    """Call a unary method with raw bytes; answers the raw response, raises on a non-OK code."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call: Any = channel.unary_unary(path)
        response, outcome = call.with_call(request, timeout=timeout)
        if outcome.code() is not grpc.StatusCode.OK:
            raise RuntimeError(f"{path} on port {port}: {outcome.code()}")
        return bytes(response)


def stream(port: int, path: str, request: bytes, timeout: float = 300.0) -> list[bytes]:
    """Read a whole server stream as raw messages; raises on a non-OK code."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        method: Any = channel.unary_stream(path)
        call = method(request, timeout=timeout)
        messages = [bytes(message) for message in call]
        if call.code() is not grpc.StatusCode.OK:
            raise RuntimeError(f"{path} on port {port}: {call.code()} {call.details()}")
        return messages
