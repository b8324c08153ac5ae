"""What the simulator has received: requests per route, connections and streamed restores."""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    """One API request: its method, its path exactly as received, the route it reached."""

    method: str
    path: str
    route: str | None
    """The route name (``"GET /applications"``), or ``None`` when no route matched (404)."""
    status: int | None = None
    """The status answered; ``None`` while the answer is not started or if the client left."""


@dataclass(slots=True)
class StreamRecord:
    """One streamed restore, as the simulator wrote it."""

    id: int
    backup: str
    framing: str
    started_at: float
    """``time.monotonic()`` when the answer started."""
    messages: int = 0
    """Progress objects written in full."""
    completed: bool = False
    """The answer ended cleanly (the final object and the end of the body were written)."""
    canceled: bool = False
    """The restoration was cancelled while streaming (a CANCELED object ended the stream)."""
    dropped: bool = False
    """The ``drop_after`` fault closed the connection."""
    disconnected: bool = False
    """The client went away before the end."""
    disconnected_at: float | None = None
    """``time.monotonic()`` when the simulator noticed the client had gone."""
    ended_at: float | None = None


class SimulatorStats:
    """Counters of API traffic; control requests (``/__simulator__/``) are not counted."""

    def __init__(
        self,
        routes: Iterable[str],
        log_size: int,
        open_connections: Callable[[], int] = lambda: 0,
    ) -> None:
        self._route_names = tuple(routes)
        self._open_connections = open_connections
        self.total = 0
        self.unmatched = 0
        self.routes: dict[str, int] = dict.fromkeys(self._route_names, 0)
        self.requests: deque[RequestRecord] = deque(maxlen=log_size)
        self.requests_dropped = 0
        self.streams: list[StreamRecord] = []
        self.connections = 0
        """Distinct connections that carried at least one API request."""
        self._seen: weakref.WeakSet[object] = weakref.WeakSet()

    @property
    def open_connections(self) -> int:
        """Connections open right now (API and control alike)."""
        return self._open_connections()

    def record(
        self, method: str, path: str, route: str | None, connection: object
    ) -> RequestRecord:
        """Count a request and return its record (whose ``status`` the caller fills in)."""
        self.total += 1
        if route is None:
            self.unmatched += 1
        else:
            self.routes[route] += 1
        if connection is not None and connection not in self._seen:
            self._seen.add(connection)
            self.connections += 1
        entry = RequestRecord(method, path, route)
        if len(self.requests) == self.requests.maxlen:
            self.requests_dropped += 1
        self.requests.append(entry)
        return entry

    def new_stream(self, backup: str, framing: str, started_at: float) -> StreamRecord:
        """Open the record of a streamed restore."""
        stream = StreamRecord(len(self.streams) + 1, backup, framing, started_at)
        self.streams.append(stream)
        return stream

    def paths(self, route: str | None = None) -> list[str]:
        """Raw paths received, all of them or only those that reached ``route``."""
        return [r.path for r in self.requests if route is None or r.route == route]

    def clear(self) -> None:
        """Forget everything counted so far."""
        self.total = 0
        self.unmatched = 0
        self.routes = dict.fromkeys(self._route_names, 0)
        self.requests.clear()
        self.requests_dropped = 0
        self.streams = []
        self.connections = 0
        self._seen = weakref.WeakSet()

    def to_dict(self) -> dict[str, Any]:
        """The JSON answered by ``GET /__simulator__/stats``."""
        return {
            "total": self.total,
            "unmatched": self.unmatched,
            "routes": dict(self.routes),
            "requests": [asdict(r) for r in self.requests],
            "requests_dropped": self.requests_dropped,
            "open_connections": self.open_connections,
            "connections": self.connections,
            "streams": [asdict(s) for s in self.streams],
        }


__all__ = ["RequestRecord", "SimulatorStats", "StreamRecord"]
