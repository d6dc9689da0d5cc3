"""``python -m benchmarks``: every figure of the cost contract, measured in one run.

``--quick`` runs fewer, shorter rounds (a first look); ``--only NAME`` runs
one section (idle, listening, send, growth).
"""

from __future__ import annotations

import argparse
import platform
import sys

import eventweave

from . import cost
from ._harness import grow, growth_table, measure, table

SECTIONS = ("idle", "listening", "send", "growth")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section")
    args = parser.parse_args(argv)
    sections = args.only or SECTIONS
    rounds, seconds = (7, 0.005) if args.quick else (21, 0.01)
    print(
        f"eventweave cost contract — Python {platform.python_version()} on {platform.machine()}; "
        f"median of {rounds} interleaved rounds, spread = lowest-highest round"
    )
    if "idle" in sections:
        rows = cost.idle()
        measure(rows, rounds=rounds, seconds=seconds)
        table("A woven call with nobody listening", rows)
        eventweave.unweave_all()
    if "listening" in sections:
        rows = cost.listening()
        measure(rows, rounds=rounds, seconds=seconds)
        table("A woven call with receivers", rows)
        eventweave.unweave_all()
    if "send" in sections:
        for n in cost.SEND_COUNTS:
            rows = cost.send(n)
            measure(rows, rounds=rounds, seconds=seconds)
            table(f"Signal.send with {n} receiver{'s' if n != 1 else ''}", rows)
    if "growth" in sections:
        rows = cost.growth()
        runs = 5
        grow(rows, sizes=(100, 1_000) if args.quick else (100, 1_000, 10_000), runs=runs)
        growth_table(
            f"Growth: total time for N items (median of {runs} runs; x10 growth and limit "
            "judged on the median)",
            rows,
        )
        eventweave.unweave_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
