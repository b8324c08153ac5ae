"""Configuration from flags, environment and TOML, validated into one object."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gateway.config import OPTIONS, GatewayConfig, add_arguments, load_config
from gateway.errors import ConfigError


def parse(argv: list[str], env: dict[str, str] | None = None) -> GatewayConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return load_config(parser.parse_args(argv), env or {})


def test_defaults_are_safe() -> None:
    config = parse([])
    assert config.listen == "127.0.0.1:50051"
    assert config.upstream == "http://localhost:1000"
    assert config.listen_is_loopback
    assert not config.allow_destructive
    assert not config.insecure


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    file = tmp_path / "gw.toml"
    file.write_text('upstream = "http://file:1"\nupstream_timeout = 7\nallow = ["OsRestart"]\n')
    env = {"PIECES_GATEWAY_UPSTREAM": "http://env:2"}
    assert parse(["--config", str(file)]).upstream == "http://file:1"
    assert parse(["--config", str(file)], env).upstream == "http://env:2"
    assert parse(["--config", str(file), "--upstream", "http://flag:3"], env).upstream == (
        "http://flag:3"
    )
    config = parse(["--config", str(file)])
    assert config.upstream_timeout == 7.0
    assert config.allow == ("OsRestart",)


def test_env_for_every_option_is_documented_in_help() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    for option in OPTIONS:
        assert option.flag in text
        assert option.env in text


@pytest.mark.parametrize(
    ("argv", "env", "names"),
    [
        (["--upstream", "localhost:1000"], {}, "--upstream"),
        (["--listen", "nowhere"], {}, "--listen"),
        ([], {"PIECES_GATEWAY_UPSTREAM_TIMEOUT": "-1"}, "PIECES_GATEWAY_UPSTREAM_TIMEOUT"),
        ([], {"PIECES_GATEWAY_INSECURE": "maybe"}, "PIECES_GATEWAY_INSECURE"),
        (["--log-format", "xml"], {}, "--log-format"),
        (["--max-response-bytes", "0"], {}, "--max-response-bytes"),
        (["--tls-cert", "/no/such/cert.pem", "--tls-key", "/no/key"], {}, "--tls-cert"),
        (["--tls-client-ca", "/x"], {}, "--tls-client-ca"),
    ],
)
def test_bad_values_name_the_option(argv: list[str], env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        parse(argv, env)


def test_unknown_toml_key_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "gw.toml"
    file.write_text('upstreem = "http://x"\n')
    with pytest.raises(ConfigError, match="upstreem"):
        parse(["--config", str(file)])


def test_public_address_needs_tls_and_tokens_unless_insecure() -> None:
    with pytest.raises(ConfigError, match=r"TLS .* and bearer tokens"):
        parse(["--listen", "0.0.0.0:50051"])
    config = parse(["--listen", "0.0.0.0:50051", "--insecure"])
    assert config.insecure
    assert not config.listen_is_loopback
    assert parse(["--listen", "[::1]:50051"]).listen_is_loopback


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("off", 0.0), ("2.5", 2.5)])
def test_memory_release_interval_accepts_seconds_or_off(text: str, seconds: float) -> None:
    assert parse(["--memory-release-interval", text]).memory_release_interval == seconds


def test_memory_release_interval_rejects_negative_seconds() -> None:
    with pytest.raises(ConfigError, match="--memory-release-interval"):
        parse(["--memory-release-interval", "-1"])
