"""The requests and payloads the benchmarks send, and the messages the floor servers answer.

The floor servers answer exactly the messages the gateway produces: they read the same JSON
from the simulator once at start-up and decode it with the gateway's codec, so the bytes on
the gRPC wire are identical (``python -m bench`` checks that before measuring).
"""

from __future__ import annotations

import json
import random
import urllib.request
import uuid
from typing import Any

import orjson
from google.protobuf.message import Message

from gateway.codec import Codec
from gateway.simulator import fixtures
from gateway.simulator.wire import SCHEMA
from pieces.v1 import applications_pb2, backup_pb2, models_pb2, os_pb2

OS_DEVICE_INFORMATION = "/pieces.v1.OsService/OsDeviceInformation"
APPLICATIONS_SNAPSHOT = "/pieces.v1.ApplicationsService/ApplicationsSnapshot"
RESTORE_STREAMED = "/pieces.v1.BackupService/BackupRestoreSpecificBackupStreamed"

UNARY = {
    # rpc name: (gRPC path, request, REST path on the simulator)
    "OsDeviceInformation": (
        OS_DEVICE_INFORMATION,
        os_pb2.OsDeviceInformationRequest(),
        "/os/device/information",
    ),
    "ApplicationsSnapshot": (
        APPLICATIONS_SNAPSHOT,
        applications_pb2.ApplicationsSnapshotRequest(),
        "/applications",
    ),
}


def seeded_backup() -> dict[str, Any]:
    """The first backup of the simulator's seeded catalog (the same in every simulator)."""
    return fixtures.seeded_backup(0)


def restore_request() -> backup_pb2.BackupRestoreSpecificBackupStreamedRequest:
    backup = seeded_backup()
    body: Any = Codec().decode(models_pb2.Backup.DESCRIPTOR, backup)
    return backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup["id"], body=body)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read())


def unary_answers(upstream: str) -> dict[str, Message]:
    """The response message of each unary RPC, as the gateway makes it from ``upstream``."""
    codec = Codec()
    services = {
        "OsDeviceInformation": os_pb2.DESCRIPTOR.services_by_name["OsService"],
        "ApplicationsSnapshot": applications_pb2.DESCRIPTOR.services_by_name["ApplicationsService"],
    }
    return {
        rpc: codec.decode(
            service.methods_by_name[rpc].output_type,
            orjson.loads(_get(upstream + UNARY[rpc][2])),
        )
        for rpc, service in services.items()
    }


def restore_messages(upstream: str) -> list[Message]:
    """Every message of one streamed restore from ``upstream`` (ndjson framing), decoded."""
    backup = seeded_backup()
    request = urllib.request.Request(
        f"{upstream}/backup/{backup['id']}/restore/streamed",
        data=json.dumps(backup).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        body = answer.read()
    method = backup_pb2.DESCRIPTOR.services_by_name["BackupService"].methods_by_name[
        RESTORE_STREAMED.rsplit("/", 1)[1]
    ]
    decode = Codec().decoder(method.output_type)
    return [decode(orjson.loads(line)) for line in body.splitlines() if line.strip()]


# --- 1 MB codec payloads --------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _timestamp(rng: random.Random) -> dict[str, Any]:
    millis = rng.randrange(1_600_000_000_000, 1_750_000_000_000)
    seconds, rest = divmod(millis, 1000)
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "schema": SCHEMA,
        "value": f"{moment}.{rest:03d}Z",
        "readable": "Last week - June 3rd, 3:33 a.m.",
    }


def _application(rng: random.Random) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": _uuid(rng),
        "name": rng.choice(["VS_CODE", "JETBRAINS", "OS_SERVER", "PIECES_FOR_DEVELOPERS"]),
        "version": f"{rng.randrange(10)}.{rng.randrange(20)}.{rng.randrange(50)}",
        "platform": rng.choice(["MACOS", "WINDOWS", "LINUX"]),
        "onboarded": rng.random() < 0.5,
        "privacy": rng.choice(["OPEN", "CLOSED", "ANONYMOUS"]),
        "capabilities": rng.choice(["BLENDED", "LOCAL", "CLOUD"]),
        "mechanism": "MANUAL",
        "automaticUnload": False,
    }


def _asset(rng: random.Random) -> dict[str, Any]:
    asset_id = _uuid(rng)
    classification = {"schema": SCHEMA, "generic": "CODE", "specific": rng.choice(["py", "ts"])}
    format_id = _uuid(rng)
    reference = {
        "schema": SCHEMA,
        "id": format_id,
        "reference": {
            "schema": SCHEMA,
            "id": format_id,
            "creator": "user",
            "classification": classification,
            "role": "BOTH",
            "asset": asset_id,
            "created": _timestamp(rng),
            "updated": _timestamp(rng),
        },
    }
    fmt = {
        "schema": SCHEMA,
        "id": format_id,
        "creator": "user",
        "classification": classification,
        "role": "BOTH",
        "application": _application(rng),
        "asset": {
            "schema": SCHEMA,
            "id": asset_id,
            "creator": "user",
            "original": format_id,
            "created": _timestamp(rng),
            "updated": _timestamp(rng),
            "mechanism": "MANUAL",
        },
        "bytes": {"value": rng.randrange(10**6), "readable": "12 KB"},
        "created": _timestamp(rng),
        "updated": _timestamp(rng),
        "fragment": {
            "string": {"raw": "def double(x):\n    return x * 2\n" * 3},
            "metadata": {"ext": "py", "lines": 3, "nested": {"a": [1, 2.5, None, True, "x"]}},
        },
        "analysis": {
            "schema": SCHEMA,
            "id": _uuid(rng),
            "format": format_id,
            "code": {"tokenized": ["def", "double"], "language": "python", "model": {"v": 3}},
        },
    }
    return {
        "schema": SCHEMA,
        "id": asset_id,
        "name": "snippet " + asset_id[:8],
        "creator": "user",
        "created": _timestamp(rng),
        "updated": _timestamp(rng),
        "interacted": _timestamp(rng),
        "formats": {"schema": SCHEMA, "iterable": [fmt]},
        "preview": {"schema": SCHEMA, "base": reference, "overlay": reference},
        "original": reference,
        "mechanism": "MANUAL",
        "favorited": False,
        "pseudo": False,
        "tags": {
            "schema": SCHEMA,
            "iterable": [
                {
                    "schema": SCHEMA,
                    "id": "t1",
                    "text": "python",
                    "mechanisms": {asset_id: "AUTOMATIC"},
                    "created": _timestamp(rng),
                    "updated": _timestamp(rng),
                    "category": "HANDLE",
                }
            ],
            "indices": {"t1": 0},
        },
        "score": {"schema": SCHEMA, "manual": 0, "automatic": rng.randrange(100), "priority": 3},
    }


def applications_payload(count: int, seed: int = 1) -> dict[str, Any]:
    """A realistic `GET /applications` body of ``count`` applications (~275 bytes each)."""
    rng = random.Random(seed)
    return {"schema": SCHEMA, "iterable": [_application(rng) for _ in range(count)]}


def assets_payload(count: int, seed: int = 1) -> dict[str, Any]:
    """A realistic `Assets` body: typed formats, timestamps, tags and Struct subtrees."""
    rng = random.Random(seed)
    items = [_asset(rng) for _ in range(count)]
    indices = {item["id"]: index for index, item in enumerate(items)}
    return {"schema": SCHEMA, "iterable": items, "indices": indices}


def sized_payload(kind: str, size: int = 1_000_000, seed: int = 1) -> dict[str, Any]:
    """An ``Applications`` or ``Assets`` JSON object of about ``size`` bytes (at least)."""
    rng = random.Random(seed)
    make = _application if kind == "Applications" else _asset
    items: list[dict[str, Any]] = []
    total = 40
    while total < size:
        item = make(rng)
        items.append(item)
        total += len(orjson.dumps(item)) + 1
    payload: dict[str, Any] = {"schema": SCHEMA, "iterable": items}
    if kind == "Assets":
        payload["indices"] = {item["id"]: index for index, item in enumerate(items)}
    return payload
