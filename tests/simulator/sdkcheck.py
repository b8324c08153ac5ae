"""Round trips of simulator JSON through the models of the public ``pieces-os-client`` SDK.

The SDK maps unknown enum strings to UNKNOWN and drops unknown keys silently, so a round trip
that gives back exactly what was sent proves the SDK understood every key and enum string.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Protocol


class SdkModel(Protocol):
    @classmethod
    def from_dict(cls, obj: dict[str, Any] | None) -> Any: ...


def sdk_roundtrip(model: type[SdkModel], data: Any, dropped: frozenset[str] = frozenset()) -> Any:
    """Parse ``data`` with the SDK ``model`` and assert nothing was lost or changed, except the
    key paths in ``dropped`` (e.g. ``"$.hardware.cpu"``, fields the 5.0.1 SDK no longer has)."""
    parsed = model.from_dict(data)
    assert parsed is not None, f"{model.__name__} refused {data!r}"
    assert_same(data, parsed.to_dict(), "$", dropped)
    return parsed


def assert_same(expected: Any, actual: Any, where: str, dropped: frozenset[str]) -> None:
    if where in dropped:
        return
    if isinstance(actual, enum.Enum):
        actual = actual.value
    if isinstance(actual, datetime):
        assert isinstance(expected, str), where
        assert datetime.fromisoformat(expected) == actual, where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        present = {k: v for k, v in actual.items() if v is not None}
        missing = {k for k in expected if f"{where}.{k}" not in dropped} - set(present)
        assert not missing, f"{where}: the SDK dropped {sorted(missing)}"
        extra = set(present) - set(expected)
        assert not extra, f"{where}: the SDK added {sorted(extra)}"
        for key, value in expected.items():
            assert_same(value, present.get(key), f"{where}.{key}", dropped)
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_same(want, got, f"{where}[{index}]", dropped)
    else:
        assert expected == actual, f"{where}: sent {expected!r}, the SDK read {actual!r}"
