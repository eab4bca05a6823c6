"""The app as the fault tests serve it: the app's own start-up migrates, then it serves.

Run: ``python -m tests.faults.served_app --port 0`` with DATABASE_URL set (the owned database,
usually through a ``TcpProxy``). It prints ``READY <port>`` once it listens, like the
federation test servers, so ``tests.federation.processes.start`` can start it. As in
``orders-subgraph serve``, the lifespan migrates and opens the pool (in the background,
retried, when the database is down).
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.served_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()

    from subgraph.app import create_app
    from subgraph.persistence.migrate import use_package_conf
    from tests.standins._serve import run

    use_package_conf()
    run(create_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
