"""The Python example client runs against a real gateway, and the descriptor set in generated/
loads in other tools (protoc and buf)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

from gateway.simulator import Simulator
from tests.conftest import gateway_config, running_gateway

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "generated" / "pieces.binpb"


async def run(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_python_example_client(sim: Simulator) -> None:
    sim.state.apply({"restore_messages": 4, "restore_interval": 0.001})
    backup_id = next(iter(sim.state.backups))
    async with running_gateway(gateway_config(sim.url)) as (gateway, _):
        code, out, err = await run(
            sys.executable,
            "examples/python_client.py",
            "--target",
            f"127.0.0.1:{gateway.port}",
            "--backup",
            backup_id,
        )
    assert code == 0, err
    assert "PiecesOS device: pieces-simulator" in out
    assert "3 applications:" in out
    assert "unknown backup: NOT_FOUND (PiecesOS said HTTP 404" in out
    restore_lines = [line for line in out.splitlines() if line.startswith("restore:")]
    assert restore_lines[0].startswith("restore: MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_INITIALIZED")
    assert restore_lines[-1] == "restore: MODEL_DOWNLOAD_PROGRESS_STATUS_ENUM_COMPLETED 100%"
    assert len(restore_lines) == 6


async def test_protoc_generates_from_the_descriptor_set(tmp_path: Path) -> None:
    code, _, err = await run(
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--descriptor_set_in={DESCRIPTOR_SET}",
        f"--python_out={tmp_path}",
        "pieces/v1/backup.proto",
        "pieces/v1/models.proto",
    )
    assert code == 0, err
    generated = (tmp_path / "pieces" / "v1" / "backup_pb2.py").read_text()
    assert "BackupRestoreSpecificBackupStreamed" in generated


async def test_buf_reads_the_descriptor_set(tmp_path: Path) -> None:
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    code, out, err = await run(buf, "ls-files", str(DESCRIPTOR_SET))
    assert code == 0, err
    assert "pieces/v1/backup.proto" in out
    image = tmp_path / "image.json"
    code, _, err = await run(
        buf, "build", str(DESCRIPTOR_SET), "--exclude-imports", "-o", str(image)
    )
    assert code == 0, err
    files = {f["name"]: f for f in json.loads(image.read_text())["file"]}
    ours = {f"pieces/v1/{n}.proto" for n in ("os", "applications", "backup", "models", "options")}
    assert ours <= set(files)
    services = [s["name"] for f in files.values() for s in f.get("service", [])]
    assert sorted(services) == ["ApplicationsService", "BackupService", "OsService"]
