"""Copy the well-known and google.api protos from installed packages into build/protodeps.

protoc and buf both need `google/api/*.proto` and `google/protobuf/*.proto` on their include
path. They are taken from the pinned googleapis-common-protos and grpcio-tools packages rather
than committed, so the versions always match the runtime.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import google.api
import grpc_tools


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/protodeps")
    api_src = Path(next(iter(google.api.__path__)))
    wkt_src = Path(grpc_tools.__file__).parent / "_proto" / "google" / "protobuf"
    (out / "google" / "api").mkdir(parents=True, exist_ok=True)
    for name in ("annotations.proto", "http.proto"):
        shutil.copyfile(api_src / name, out / "google" / "api" / name)
    shutil.copytree(wkt_src, out / "google" / "protobuf", dirs_exist_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
