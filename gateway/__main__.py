"""``python -m gateway`` is the ``pieces-grpc-gateway`` command."""

from gateway.cli import main

raise SystemExit(main())
