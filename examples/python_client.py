"""A small Python client of pieces-grpc-gateway.

    python examples/python_client.py --target 127.0.0.1:50051 [--backup ID] [--token TOKEN]

It prints the device PiecesOS runs on and the registered applications, shows how a failed call
carries the PiecesOS error (gRPC code plus google.rpc.ErrorInfo), and with --backup streams a
restore of that backup (the gateway must allow BackupRestoreSpecificBackupStreamed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pieces.v1 import (
    applications_pb2,
    applications_pb2_grpc,
    backup_pb2,
    backup_pb2_grpc,
    models_pb2,
    os_pb2,
    os_pb2_grpc,
)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo detail the gateway attaches to every error status."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


async def main(target: str, backup_id: str | None, token: str | None) -> int:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with grpc.aio.insecure_channel(target) as channel:
        os_stub = os_pb2_grpc.OsServiceStub(channel)
        applications = applications_pb2_grpc.ApplicationsServiceStub(channel)
        backups = backup_pb2_grpc.BackupServiceStub(channel)

        device = await os_stub.OsDeviceInformation(
            os_pb2.OsDeviceInformationRequest(), metadata=metadata, timeout=10
        )
        print(f"PiecesOS device: {device.name} (version {device.version})")

        listed = await applications.ApplicationsSnapshot(
            applications_pb2.ApplicationsSnapshotRequest(), metadata=metadata, timeout=10
        )
        print(f"{len(listed.iterable)} applications:")
        for app in listed.iterable:
            print(f"  {app.id}  {models_pb2.ApplicationNameEnum.Name(app.name)}  {app.version}")

        try:
            await backups.BackupSpecificCreationStatus(
                backup_pb2.BackupSpecificCreationStatusRequest(backup="no-such-backup"),
                metadata=metadata,
                timeout=10,
            )
        except grpc.aio.AioRpcError as error:
            info = error_info(error)
            http = info.metadata.get("http_status") if info else "?"
            said = info.metadata.get("upstream_body") if info else error.details()
            print(f"unknown backup: {error.code().name} (PiecesOS said HTTP {http}: {said})")

        if backup_id:
            backup = await backups.BackupSpecificBackupSnapshot(
                backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id),
                metadata=metadata,
                timeout=10,
            )
            request = backup_pb2.BackupRestoreSpecificBackupStreamedRequest(
                backup=backup.id, body=backup
            )
            async for progress in backups.BackupRestoreSpecificBackupStreamed(
                request, metadata=metadata, timeout=300
            ):
                status = models_pb2.ModelDownloadProgressStatusEnum.Name(progress.status)
                print(f"restore: {status} {progress.percentage:.0f}%")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="gateway address")
    parser.add_argument("--backup", help="identifier of a backup to restore (streamed)")
    parser.add_argument("--token", help="bearer token, when the gateway requires one")
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(main(args.target, args.backup, args.token)))
    except grpc.aio.AioRpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)
