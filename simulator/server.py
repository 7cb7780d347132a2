"""Command line: `python -m simulator.server --port 4010` runs a standalone simulator.

The HTTP server and the control API are documented in `simulator.httpd`.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from simulator.clock import SimClock
from simulator.httpd import SimulatorServer
from simulator.state import DEFAULT_ACCOUNT_ID, ControlPlane

__all__ = ["SimulatorServer", "main"]

logger = logging.getLogger("simulator")


def main(argv: list[str] | None = None) -> None:
    """Command line: run a simulator until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.server", description="Run the job API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--seed", type=int, default=None, help="make generated ids reproducible")
    parser.add_argument("--start", default=None, help="ISO 8601 start of the simulated clock (default: now)")
    parser.add_argument(
        "--frozen-clock", action="store_true", help="do not move the clock with wall time between changes"
    )
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC)
    clock = SimClock(start=start, follow_wall_clock=not args.frozen_clock)
    plane = ControlPlane(clock=clock, account_id=args.account_id, seed=args.seed)
    server = SimulatorServer(plane, host=args.host, port=args.port)
    logging.basicConfig(level=logging.INFO)
    logger.info("simulator listening on %s (account %s)", server.endpoint_url, plane.account_id)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
