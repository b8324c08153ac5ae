"""What README tells other languages works: TypeScript stubs generated from protos/ (ts-proto,
with the google/api imports from tools/protodeps.py) type-check under tsc --strict."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "clients" / "node"
BIN = NODE / "node_modules" / ".bin"
NAMES = ("os", "applications", "backup", "models", "options")
FILES = [f"pieces/v1/{name}.proto" for name in NAMES]


def run(*argv: str | Path, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_typescript_stubs_generate_and_type_check(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (BIN / "tsc").exists():
        pytest.fail("Node.js packages missing: run `make node-install` (npm ci in clients/node)")
    deps = tmp_path / "protodeps"
    run(sys.executable, "tools/protodeps.py", deps)
    out = NODE / "build" / "ts-check"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        run(
            sys.executable, "-m", "grpc_tools.protoc", "-I", "protos", "-I", deps,
            f"--plugin=protoc-gen-ts_proto={BIN / 'protoc-gen-ts_proto'}",
            f"--ts_proto_out={out}",
            "--ts_proto_opt=outputServices=grpc-js,esModuleInterop=true",
            *FILES,
        )  # fmt: skip
        backup = (out / "pieces" / "v1" / "backup.ts").read_text()
        assert "BackupRestoreSpecificBackupStreamed" in backup
        assert "makeGenericClientConstructor" in backup
        sources = sorted(str(p.relative_to(NODE)) for p in out.rglob("*.ts"))
        run(
            BIN / "tsc", "--noEmit", "--strict", "--esModuleInterop", "--skipLibCheck",
            "--module", "commonjs", "--target", "es2020", "--types", "node", *sources,
            cwd=NODE,
        )  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)
