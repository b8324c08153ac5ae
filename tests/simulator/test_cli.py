"""The command line: flags, and a real ``python -m gateway.simulator`` process."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.simulator import cli

from .test_os import call

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_listen_where_pieces_os_does() -> None:
    config = cli.config_from_args(parse())
    assert (config.host, config.port) == ("127.0.0.1", 1000)
    assert config.restore_framing == "ndjson"
    assert config.signed_in
    assert not config.too_old
    assert not config.faults.active


def test_every_flag_reaches_the_config() -> None:
    args = parse(
        "--host", "127.0.0.2", "--port", "0", "--restore-framing", "sse",
        "--restore-messages", "7", "--restore-interval", "0.5", "--applications", "20",
        "--signed-out", "--too-old", "--latency", "0.25", "--error-rate", "0.1",
        "--error-status", "503", "--malformed-json", "--truncated-body", "--drop-after", "3",
        "--refuse-stream", "429", "--fault-routes", "GET /applications, /os/",
    )  # fmt: skip
    config = cli.config_from_args(args)
    assert (config.host, config.port, config.restore_framing) == ("127.0.0.2", 0, "sse")
    assert (config.restore_messages, config.restore_interval, config.applications) == (7, 0.5, 20)
    assert (config.signed_in, config.too_old) == (False, True)
    faults = config.faults
    assert (faults.latency, faults.error_rate, faults.error_status) == (0.25, 0.1, 503)
    assert (faults.malformed_rate, faults.truncated_body) == (1.0, True)
    assert (faults.drop_after, faults.refuse_stream) == (3, 429)
    assert faults.routes == frozenset({"GET /applications", "/os/"})
    assert cli.config_from_args(parse("--malformed-json", "0.25")).faults.malformed_rate == 0.25


@pytest.mark.parametrize(
    "argv",
    [
        ["--restore-framing", "xml"],
        ["--error-rate", "2"],
        ["--error-status", "42"],
        ["--drop-after", "-1"],
        ["--latency", "-0.5"],
    ],
)
def test_invalid_flags_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_every_flag_has_help() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    actions = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(actions) == 16
    assert all(action.help for action in actions)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_module_entry_serves_until_sigterm() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.simulator", "--port", str(port),
        "--restore-framing", "concat", "--error-rate", "1", "--error-status", "503",
        "--fault-routes", "GET /applications",
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), 10)
        match = re.search(rb"listening on (http://\S+)", line)
        assert match, line
        url = match.group(1).decode()
        assert url == f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base_url=url) as client:
            assert (await call(client, "GET", "/applications"))[0] == 503
            assert (await call(client, "GET", "/os/permissions"))[0] == 200
            async with client.post("/backup/9.0.2_1714564800000/restore/streamed") as response:
                assert response.headers["Content-Type"] == "application/json"
                assert (await response.read()).count(b'}{"schema"') == 11
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_module_entry_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.simulator", "--port", str(port),
            cwd=ROOT, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 1
    assert b"cannot listen on 127.0.0.1" in err
