"""Section 3, codec: MB/s decoding and encoding 1 MB payloads, against json_format.

Both sides start from bytes and end in bytes, on the same message:

- decode: the codec is ``orjson.loads`` + the compiled decoder, from the PiecesOS wire JSON;
  json_format is ``json_format.Parse`` of its own (proto3) JSON of the same message;
- encode: the codec is the compiled encoder + ``orjson.dumps``; json_format is
  ``json_format.MessageToJson``;
- decode to protobuf bytes (what the gateway sends): ``orjson.loads`` + the wire writer
  (:mod:`gateway.wirewriter`); json_format is ``json_format.Parse`` + ``SerializeToString``.

MB/s is the size of the wire JSON over the time taken; the ratio is json_format's time over
the codec's, measured within each run. Times are process CPU time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message_factory import GetMessageClass

from bench import payloads
from bench.common import Settings, Table, fmt, median, ratio, verdict
from gateway.codec import Codec
from gateway.wirewriter import WireWriter
from pieces.v1 import models_pb2

TARGET = 3.0
KINDS = (("Applications", models_pb2.Applications), ("Assets", models_pb2.Assets))


def _cpu(job: Callable[[], object], repeat: int) -> float:
    """CPU seconds of one call of ``job``, averaged over ``repeat`` calls, GC paused."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for _ in range(repeat):
            job()
        return (time.process_time() - started) / repeat
    finally:
        gc.enable()


def run(settings: Settings) -> list[Table]:
    repeat = 1 if settings.quick else 3
    table = Table(
        "Codec: 1 MB payloads, MB/s of wire JSON (higher is better)",
        [
            "payload",
            "direction",
            "codec MB/s",
            "json_format MB/s",
            "vs json_format",
            f"target ≥ {TARGET}x",
        ],
    )
    for name, cls in KINDS:
        _measure(table, name, cls, settings.runs, repeat)
        print(f"  {name}: done", flush=True)
    table.notes.append(
        "  decode = bytes → message (codec: orjson.loads + compiled decoder; json_format.Parse); "
        "encode = message → bytes (compiled encoder + orjson.dumps; json_format.MessageToJson); "
        "JSON → protobuf bytes = what the gateway sends (orjson.loads + wire writer; "
        "json_format.Parse + SerializeToString)."
    )
    return [table]


def _measure(table: Table, name: str, cls: Any, runs: int, repeat: int) -> None:
    codec = Codec()
    descriptor: Any = cls.DESCRIPTOR
    decode, encode = codec.decoder(descriptor), codec.encoder(descriptor)
    write = WireWriter(codec).writer(descriptor)
    wire = orjson.dumps(payloads.sized_payload(name))
    message: Any = decode(orjson.loads(wire))
    proto3 = json_format.MessageToJson(message, indent=None)
    message_class = GetMessageClass(descriptor)
    if json_format.Parse(proto3, message_class()) != message:
        raise AssertionError(f"json_format does not read back the same {name}")
    if decode(orjson.loads(orjson.dumps(encode(message)))) != message:
        raise AssertionError(f"the codec does not read back the same {name}")
    written = write(orjson.loads(wire))
    if written is None or cls.FromString(written) != message:
        raise AssertionError(f"the wire writer does not write the same {name}")
    megabytes = len(wire) / 1e6
    items = len(message.iterable)

    jobs = {
        "decode": (
            lambda: decode(orjson.loads(wire)),
            lambda: json_format.Parse(proto3, message_class()),
        ),
        "encode": (
            lambda: orjson.dumps(encode(message)),
            lambda: json_format.MessageToJson(message, indent=None),
        ),
        "JSON → protobuf bytes": (
            lambda: write(orjson.loads(wire)),
            lambda: json_format.Parse(proto3, message_class()).SerializeToString(),
        ),
    }
    for direction, (ours, theirs) in jobs.items():
        ours_s: list[float] = []
        theirs_s: list[float] = []
        for _ in range(runs):
            ours_s.append(_cpu(ours, repeat))
            theirs_s.append(_cpu(theirs, repeat))
        times = median([t / o for o, t in zip(ours_s, theirs_s, strict=True)])
        table.add(
            f"{name} ({len(wire):,} B, {items:,} items)",
            direction,
            fmt(megabytes / median(ours_s), 1),
            fmt(megabytes / median(theirs_s), 1),
            ratio(times),
            verdict(times, TARGET, at_most=False),
        )
