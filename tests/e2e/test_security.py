"""Bearer tokens, TLS and mTLS, and the per-RPC policy, on a real port."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.server import Gateway
from gateway.simulator import Simulator
from pieces.v1 import applications_pb2, backup_pb2, os_pb2
from tests.conftest import gateway_config, running_gateway, serve_upstream, stubs_for
from tests.e2e.certs import make_pki

TOKEN = "test-token-0123456789abcdef"
DEVICE = os_pb2.OsDeviceInformationRequest()


async def test_default_policy_denies_destructive_rpcs_before_the_upstream(
    sim: Simulator,
) -> None:
    config = gateway_config(sim.url, allow_destructive=False)
    async with running_gateway(config) as (_, stubs):
        for call in (
            stubs.os.OsRestart(os_pb2.OsRestartRequest()),
            stubs.os.SignOutOfOs(os_pb2.SignOutOfOsRequest()),
            stubs.backup.BackupRestoreSpecificBackup(
                backup_pb2.BackupRestoreSpecificBackupRequest(backup="x")
            ),
            stubs.backup.BackupSpecificCreationCancel(
                backup_pb2.BackupSpecificCreationCancelRequest(backup="x")
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "--allow" in (caught.value.details() or "")
        stream = stubs.backup.BackupRestoreSpecificBackupStreamed(
            backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup="x")
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stream.read()
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert sim.stats.total == 0
        # Read-only RPCs pass.
        assert (await stubs.os.OsDeviceInformation(DEVICE)).name
        assert sim.stats.total == 1
    assert sim.state.restarts == 0
    assert sim.state.signed_in


async def test_destructive_rpc_allowed_by_name(sim: Simulator) -> None:
    config = gateway_config(sim.url, allow_destructive=False, allow=("OsRestart",))
    async with running_gateway(config) as (_, stubs):
        await stubs.os.OsRestart(os_pb2.OsRestartRequest())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.os.SignOutOfOs(os_pb2.SignOutOfOsRequest())
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert sim.state.restarts == 1
    assert sim.state.signed_in


async def test_bearer_tokens(sim: Simulator) -> None:
    config = gateway_config(sim.url, tokens=(TOKEN,))
    async with running_gateway(config) as (_, stubs):
        for metadata, problem in (
            ((), "missing"),
            ((("authorization", "Bearer wrong-token-0123456789abc"),), "not accepted"),
            ((("authorization", f"Basic {TOKEN}"),), "Bearer"),
            ((("authorization", TOKEN),), "Bearer"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stubs.os.OsDeviceInformation(DEVICE, metadata=metadata)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert problem in (caught.value.details() or "")
        stream = stubs.backup.BackupRestoreSpecificBackupStreamed(
            backup_pb2.BackupRestoreSpecificBackupStreamedRequest(backup="x")
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stream.read()
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert sim.stats.total == 0
        good = (("authorization", f"Bearer {TOKEN}"),)
        assert (await stubs.os.OsDeviceInformation(DEVICE, metadata=good)).name
        # Orchestrators probe health without credentials.
        health = health_pb2_grpc.HealthStub(stubs.channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_tokens_file(sim: Simulator, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# operators\n{TOKEN}\n\nsecond-token-abcdefghijkl  # ci\n")
    config = gateway_config(sim.url, tokens_file=str(tokens))
    async with running_gateway(config) as (_, stubs):
        for token in (TOKEN, "second-token-abcdefghijkl"):
            metadata = (("authorization", f"Bearer {token}"),)
            assert (await stubs.os.OsDeviceInformation(DEVICE, metadata=metadata)).name


async def test_tls_and_plaintext_refused(sim: Simulator, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    config = gateway_config(
        sim.url, tls_cert=str(pki.server_cert_file), tls_key=str(pki.server_key_file)
    )
    async with Gateway(config) as gateway:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert)
        async with grpc.aio.secure_channel(f"127.0.0.1:{gateway.port}", credentials) as channel:
            assert (await stubs_for(channel).os.OsDeviceInformation(DEVICE, timeout=5)).name
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stubs_for(channel).os.OsDeviceInformation(DEVICE, timeout=2)
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_requires_a_client_certificate(sim: Simulator, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    config = gateway_config(
        sim.url,
        tls_cert=str(pki.server_cert_file),
        tls_key=str(pki.server_key_file),
        tls_client_ca=str(pki.ca_file),
    )
    async with Gateway(config) as gateway:
        target = f"127.0.0.1:{gateway.port}"
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=pki.ca.cert,
            private_key=pki.client.key,
            certificate_chain=pki.client.cert,
        )
        async with grpc.aio.secure_channel(target, with_cert) as channel:
            assert (await stubs_for(channel).os.OsDeviceInformation(DEVICE, timeout=5)).name
        without_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert)
        async with grpc.aio.secure_channel(target, without_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stubs_for(channel).os.OsDeviceInformation(DEVICE, timeout=2)
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sim.stats.routes["GET /os/device/information"] == 1


async def test_insecure_public_bind_warns_loudly(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = gateway_config(sim.url, listen="0.0.0.0:0", insecure=True)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        async with running_gateway(config) as (_, stubs):
            assert (await stubs.os.OsDeviceInformation(DEVICE)).name
    assert any("WITHOUT TLS OR AUTHENTICATION" in r.getMessage() for r in caplog.records)


async def test_response_size_cap_is_resource_exhausted(sim: Simulator) -> None:
    config = gateway_config(sim.url, max_response_bytes=256)
    async with running_gateway(config) as (_, capped):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await capped.applications.ApplicationsSnapshot(
                applications_pb2.ApplicationsSnapshotRequest()
            )
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "256-byte cap" in (caught.value.details() or "")
        assert (await capped.os.PickFolders(os_pb2.PickFoldersRequest())).paths


async def test_oversized_request_is_refused(sim: Simulator) -> None:
    config = gateway_config(sim.url, max_message_bytes=1024)
    async with running_gateway(config) as (_, stubs):
        huge = backup_pb2.BackupSpecificBackupSnapshotRequest(backup="x" * 4096)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.backup.BackupSpecificBackupSnapshot(huge)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sim.stats.total == 0


async def test_concurrency_limit_refuses_calls_beyond_it(sim: Simulator) -> None:
    sim.state.apply({"restore_messages": 1000, "restore_interval": 0.05})
    config = gateway_config(sim.url, max_concurrent_rpcs=2)
    async with running_gateway(config) as (_, stubs):
        backup_id = next(iter(sim.state.backups))
        backup = await stubs.backup.BackupSpecificBackupSnapshot(
            backup_pb2.BackupSpecificBackupSnapshotRequest(backup=backup_id)
        )
        request = backup_pb2.BackupRestoreSpecificBackupStreamedRequest(
            backup=backup_id, body=backup
        )
        open_streams = [stubs.backup.BackupRestoreSpecificBackupStreamed(request) for _ in range(2)]
        for stream in open_streams:
            await stream.read()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.os.OsDeviceInformation(DEVICE, timeout=5)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        for stream in open_streams:
            stream.cancel()
        await asyncio.sleep(0.1)
        assert (await stubs.os.OsDeviceInformation(DEVICE, timeout=5)).name


async def test_an_https_upstream_is_reached_over_tls_and_its_certificate_checked(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)  # a private CA, which the gateway does not trust
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert_file, pki.server_key_file)
    reached: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.json_response({"id": "device", "name": "over TLS", "version": "1.0.0"})

    async with (
        serve_upstream(answer, context) as upstream,
        running_gateway(gateway_config(upstream)) as (_, stubs),
    ):
        assert upstream.startswith("https://")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.os.OsDeviceInformation(DEVICE, timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in (caught.value.details() or "")
    assert reached == []
