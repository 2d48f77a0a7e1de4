"""``python -m canaryflow.simulator [--host H] [--port P] [--scenario S] [--seed N]``."""

from __future__ import annotations

import argparse

from canaryflow.simulator.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m canaryflow.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.02)
    args = parser.parse_args(argv)
    serve_forever(args.host, args.port, args.scenario, args.seed, args.noise)


if __name__ == "__main__":
    main()
