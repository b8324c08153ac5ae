"""``python -m gateway.simulator``: run the PiecesOS simulator."""

import sys

from gateway.simulator.cli import main

sys.exit(main())
