"""``pieces-grpc-gateway demo``: the simulator, the gateway and a sample client in one process.

Starts the PiecesOS simulator and the gateway on free loopback ports, lists the registered
applications over gRPC, then streams a backup restore with a live progress bar. Exits 0 when
the restore completes, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import grpc

from gateway.config import GatewayConfig
from gateway.server import Gateway
from gateway.simulator import Simulator, SimulatorConfig
from pieces.v1 import (
    applications_pb2,
    applications_pb2_grpc,
    backup_pb2,
    backup_pb2_grpc,
    models_pb2,
)

BAR_WIDTH = 30


def run(*, restore_messages: int = 20, restore_interval: float = 0.05) -> int:
    return asyncio.run(_demo(restore_messages, restore_interval, sys.stdout))


async def _demo(restore_messages: int, restore_interval: float, out: TextIO) -> int:
    simulator_config = SimulatorConfig(
        restore_messages=restore_messages, restore_interval=restore_interval
    )
    async with Simulator(simulator_config) as simulator:
        config = GatewayConfig(
            listen="127.0.0.1:0",
            upstream=simulator.url,
            allow=("BackupRestoreSpecificBackupStreamed",),
        )
        async with Gateway(config) as gateway:
            target = f"127.0.0.1:{gateway.port}"
            print(f"PiecesOS simulator on {simulator.url}; gateway on {target}", file=out)
            async with grpc.aio.insecure_channel(target) as channel:
                await _list_applications(channel, out)
                return await _stream_restore(channel, next(iter(simulator.state.backups)), out)


async def _list_applications(channel: grpc.aio.Channel, out: TextIO) -> None:
    stub = applications_pb2_grpc.ApplicationsServiceStub(channel)
    applications = await stub.ApplicationsSnapshot(
        applications_pb2.ApplicationsSnapshotRequest(), timeout=10
    )
    print(f"\n{len(applications.iterable)} registered applications:", file=out)
    for app in applications.iterable:
        name = models_pb2.ApplicationNameEnum.Name(app.name).removeprefix("APPLICATION_NAME_ENUM_")
        platform = models_pb2.PlatformEnum.Name(app.platform).removeprefix("PLATFORM_ENUM_")
        print(f"  {app.id}  {name:<22} {app.version:<8} {platform}", file=out)


async def _stream_restore(channel: grpc.aio.Channel, backup_id: str, out: TextIO) -> int:
    stub = backup_pb2_grpc.BackupServiceStub(channel)
    backup = await stub.BackupSpecificBackupSnapshot(
        backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id), timeout=10
    )
    print(
        f"\nRestoring backup {backup.id} of {backup.device_name} "
        f"({backup.bytes / 1e6:.1f} MB, created {backup.created.value.ToJsonString()}):",
        file=out,
    )
    request = backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup=backup.id, body=backup)
    last = models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_UNSPECIFIED
    try:
        async for progress in stub.BackupRestoreSpecificBackupStreamed(request, timeout=60):
            last = progress.status
            _draw(progress, out)
    except grpc.aio.AioRpcError as error:
        print(f"\nrestore failed: {error.code().name}: {error.details()}", file=out)
        return 1
    print(file=out)
    completed = last == models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED
    print("Restore completed." if completed else "Restore ended without COMPLETED.", file=out)
    return 0 if completed else 1


def _draw(progress: models_pb2.BackupStreamedProgress, out: TextIO) -> None:
    status = models_pb2.ModelDownloadProgressStatusEnum.Name(progress.status).removeprefix(
        "MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_"
    )
    if progress.status == models_pb2.MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED:
        percent = 100.0
    else:
        percent = progress.percentage if progress.HasField("percentage") else 0.0
    filled = round(BAR_WIDTH * percent / 100)
    bar = "█" * filled + "·" * (BAR_WIDTH - filled)
    out.write(f"\r  [{bar}] {percent:5.1f}%  {status:<12}")
    out.flush()
