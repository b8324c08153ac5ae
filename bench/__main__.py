"""``python -m bench`` (``make bench``): measure the gateway against its floors and targets.

    python -m bench                      # every section: unary httpx streaming codec scale
    python -m bench unary codec          # some sections
    python -m bench --quick              # shorter phases, 3 runs: a smoke test, not a record
    python -m bench --markdown out.md    # also write the tables as Markdown
    python -m bench hotspots             # where the gateway's CPU goes per unary call
    python -m bench unary --gateway-path /tmp/gw-try   # add a patched copy of gateway/
    python -m bench unary --variant 'uvloop=--uvloop'  # add a gateway run differently

Installs nothing. The unary and streaming sections need h2load (Debian package
nghttp2-client).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable

from bench import common
from bench.common import BenchError, Settings, Table

SECTIONS = ("unary", "httpx", "streaming", "codec", "scale")
EXTRA = ("hotspots",)


def _section(name: str) -> Callable[[Settings], list[Table]]:
    if name == "unary":
        from bench import unary

        return unary.run
    if name == "httpx":
        from bench import clients

        return clients.run
    if name == "streaming":
        from bench import streaming

        return streaming.run
    if name == "codec":
        from bench import codec

        return codec.run
    if name == "scale":
        from bench import scale

        return scale.run
    from bench import hotspots

    return hotspots.run


def _raise_file_limit(wanted: int = 8192) -> None:
    """Children inherit the limit: 1,000 streams need more than 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "sections",
        nargs="*",
        choices=[*SECTIONS, *EXTRA, []],
        metavar="SECTION",
        help=f"any of {', '.join(SECTIONS + EXTRA)} (default: {' '.join(SECTIONS)})",
    )
    parser.add_argument("--quick", action="store_true", help="3 runs of short phases")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement (5)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="length of one load phase (2.0)"
    )
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown too")
    parser.add_argument(
        "--gateway-path",
        metavar="DIR",
        action="append",
        default=[],
        help="also measure the gateway package found in DIR (a patched copy)",
    )
    parser.add_argument(
        "--variant",
        metavar="LABEL=ARGS",
        action="append",
        default=[],
        help="also measure a gateway run with these bench.run_gateway arguments,\n"
        "e.g. 'uvloop=--uvloop --gateway-path /tmp/gw-try'",
    )
    parser.add_argument(
        "--no-transports",
        action="store_true",
        help="skip the httpx transport table of the unary section",
    )
    args = parser.parse_args(argv)
    sections = args.sections or list(SECTIONS)
    settings = Settings(
        runs=args.runs or (3 if args.quick else 5),
        seconds=args.seconds or (0.6 if args.quick else 2.0),
        quick=args.quick,
        gateway_paths=args.gateway_path,
        variants=[
            (label, value.split()) for label, _, value in (v.partition("=") for v in args.variant)
        ],
        transports=not args.no_transports,
    )
    if settings.runs < 5 and not settings.quick:
        print("note: fewer than 5 runs per measurement", file=sys.stderr)

    needs_h2load = {"unary", "streaming", "hotspots"} & set(sections)
    if needs_h2load and common.h2load_path() is None:
        print(f"bench: {common.H2LOAD_HINT}", file=sys.stderr)
        return 2
    _raise_file_limit()

    info = common.machine()
    print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()), flush=True)
    print(f"settings: {settings.runs} runs, {settings.seconds:g}s load phases", flush=True)
    tables: list[Table] = []
    failed = False
    started = time.monotonic()
    for name in sections:
        print(f"\n== {name} ==", flush=True)
        section_started = time.monotonic()
        try:
            produced = _section(name)(settings)
        except BenchError as exc:
            print(f"{name}: FAILED: {exc}", flush=True)
            failed = True
            continue
        for table in produced:
            print("\n" + table.text(), flush=True)
        tables += produced
        print(f"  ({name}: {time.monotonic() - section_started:.0f}s)", flush=True)
    print(f"\ntotal {time.monotonic() - started:.0f}s; logs in {common.log_dir()}")

    if args.markdown:
        lines = ["**Machine**: " + ", ".join(f"{k} {v}" for k, v in info.items()), ""]
        lines.append(
            f"**Settings**: {settings.runs} runs, {settings.seconds:g}s load phases"
            + (" (quick)" if settings.quick else "")
        )
        for table in tables:
            lines += ["", table.markdown()]
        with open(args.markdown, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"wrote {args.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
