"""An embedded, stateful simulator of the PiecesOS REST API for demos, tests and benchmarks.

    async with Simulator(SimulatorConfig(restore_framing="sse")) as sim:
        ...  # talk to sim.url; inspect sim.stats; break things with sim.faults

It serves the 31 OS, Applications and Backup routes of the seed API documents with the wire
format of PiecesOS, plus a control endpoint under ``/__simulator__/`` (see ``control``).

Where the API documents say nothing, the simulator answers:

- unknown routes, and known paths with another method: 404 ``Route not found``;
- request bodies that do not match their model (missing required key, wrong type, unknown enum
  string, not JSON): 400, naming the key;
- an unknown application or session id: 500 ``Application not found`` / ``Session not found``;
- the restoration status of a backup never restored: 404 ``No restoration of this backup``;
- the id of the backup a ``POST /backup`` creates: the alias ``latest`` in the creation routes,
  the ``x-pieces-backup-id`` header of the 204, or ``GET /__simulator__/state`` (see ``state``).
"""

from gateway.simulator.app import Simulator
from gateway.simulator.config import FRAMINGS, FaultConfig, Framing, SimulatorConfig
from gateway.simulator.routes import CONTROL_PREFIX, ROUTES, Route
from gateway.simulator.state import LATEST, SimulatorState
from gateway.simulator.stats import RequestRecord, SimulatorStats, StreamRecord

__all__ = [
    "CONTROL_PREFIX",
    "FRAMINGS",
    "LATEST",
    "ROUTES",
    "FaultConfig",
    "Framing",
    "RequestRecord",
    "Route",
    "Simulator",
    "SimulatorConfig",
    "SimulatorState",
    "SimulatorStats",
    "StreamRecord",
]
