"""Measuring ratios honestly: the call expression itself, interleaved rounds, medians.

Every figure the cost contract sets is a ratio between two statements timed
in the same process: the measured one (eventweave) and its baseline (what a
person writes without eventweave). Each statement is compiled by ``timeit``
into its own loop, so nothing but the expression runs per iteration — no
helper function or lambda frame dilutes the difference. Rounds alternate
between the two, and the ratio reported is the median of the per-round
ratios, with the lowest and highest beside it: a shared machine's load moves
both sides of one round alike, and the spread says how much it moved.

Nothing here asserts a time: ``make bench`` prints the figures against
their limits; ``make test`` only runs each statement once (``smoke``), so
that the benchmarks cannot rot.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
import timeit
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ratio:
    """One row of the table: ``measured`` ÷ ``baseline``, both timed on their expression."""

    label: str
    measured: str
    baseline: str
    namespace: dict[str, Any]
    limit: float | None = None
    note: str = ""
    # Calls per timing; by default as many as the baseline makes in about
    # ``seconds``. Set where each measured call leaves work behind (an event
    # for a publisher): a fast baseline would otherwise multiply it.
    number: int | None = None
    # Run, untimed, after every timing: what one timing left behind (events a
    # publisher thread is still writing) is then not paid by the next one.
    settle: Callable[[], object] | None = None
    # The clock both statements are timed on: the wall clock, or
    # ``time.thread_time`` for what a call costs its own thread (work another
    # thread does meanwhile, holding the GIL, is then not counted).
    timer: Callable[[], float] = time.perf_counter
    rounds: list[float] = field(default_factory=list)
    times: tuple[float, float] = (0.0, 0.0)

    @property
    def ratio(self) -> float:
        return statistics.median(self.rounds)

    def verdict(self) -> str:
        if self.limit is None:
            return ""
        return f"≤ {self.limit:<5} {'ok' if self.ratio <= self.limit else 'OVER'}"


def smoke(rows: Iterable[Ratio]) -> None:
    """Run every statement once (what ``make test`` does with the benchmarks)."""
    for row in rows:
        for statement in (row.measured, row.baseline):
            exec(compile(statement, f"<benchmark {row.label}>", "exec"), dict(row.namespace))


def _number(timer: timeit.Timer, target: float) -> int:
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= target / 10 or number >= 10_000_000:
            return max(1, int(number * target / max(elapsed, 1e-9)))
        number *= 10


def measure(rows: Sequence[Ratio], *, rounds: int = 21, seconds: float = 0.01) -> None:
    """Time every row: ``rounds`` interleaved rounds of about ``seconds`` per statement."""
    timers = []
    for row in rows:
        measured = timeit.Timer(row.measured, timer=row.timer, globals=row.namespace)
        baseline = timeit.Timer(row.baseline, timer=row.timer, globals=row.namespace)
        number = row.number or _number(baseline, seconds)
        timers.append((row, measured, baseline, number))
        row.rounds = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        samples: dict[int, list[tuple[float, float]]] = {id(row): [] for row in rows}
        for index in range(rounds):
            for row, measured, baseline, number in timers:
                # Alternate which side goes first, so neither always follows the other.
                sides = (
                    ((baseline, 1), (measured, 0)) if index % 2 else ((measured, 0), (baseline, 1))
                )
                pair = [0.0, 0.0]
                for timer, side in sides:
                    pair[side] = timer.timeit(number) / number
                    if row.settle is not None:
                        row.settle()
                m, b = pair
                samples[id(row)].append((m, b))
                row.rounds.append(m / b)
        for row in rows:
            ms, bs = zip(*samples[id(row)], strict=True)
            row.times = (statistics.median(ms), statistics.median(bs))
    finally:
        if gc_was_enabled:
            gc.enable()


def table(title: str, rows: Sequence[Ratio], write: Callable[[str], None] = print) -> None:
    """Print ``rows`` as measured: label, median ratio, lowest-highest round, limit."""
    write("")
    write(title)
    write(f"  {'measured ÷ baseline':<64} {'ratio':>6}  {'spread':>13}  limit")
    for row in rows:
        spread = f"{min(row.rounds):.2f}-{max(row.rounds):.2f}"
        write(f"  {row.label:<64} {row.ratio:6.2f}  {spread:>13}  {row.verdict()}")
        measured, baseline = row.times
        detail = f"{_ns(measured)} vs {_ns(baseline)}"
        write(f"      {detail}{'; ' + row.note if row.note else ''}")


def _ns(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


@dataclass
class Growth:
    """How the total time of doing something N times grows with N."""

    label: str
    run: Callable[[int], Callable[[], None]]  # run(n) prepares and returns the timed action
    limit: tuple[int, float] | None = None  # (N, seconds) the contract sets
    runs: dict[int, list[float]] = field(default_factory=dict)  # every run's total, per N

    @property
    def totals(self) -> dict[int, float]:
        """The median total per N: what the growth factors and the verdict use."""
        return {n: statistics.median(times) for n, times in self.runs.items()}

    def verdict(self) -> str:
        if self.limit is None:
            return ""
        n, seconds = self.limit
        if n not in self.runs:
            return f"N={n:,} ≤ {seconds} s (not run)"
        return f"N={n:,} ≤ {seconds} s {'ok' if self.totals[n] <= seconds else 'OVER'}"


def grow(
    rows: Sequence[Growth], sizes: Sequence[int] = (100, 1_000, 10_000), *, runs: int = 5
) -> None:
    """Time each row at each size ``runs`` times, keeping every run.

    The sizes alternate within each run, so a burst of load on a shared
    machine lands on one run of every size rather than on every run of one.
    """
    for row in rows:
        row.runs = {n: [] for n in sizes}
        for _ in range(runs):
            for n in sizes:
                action = row.run(n)
                # What earlier runs left is collected now, untimed; the
                # collector stays on while the action runs.
                gc.collect()
                started = time.perf_counter()
                action()
                row.runs[n].append(time.perf_counter() - started)


def growth_table(title: str, rows: Sequence[Growth], write: Callable[[str], None] = print) -> None:
    """Print ``rows``: the median total per N, its x10 growth and limit; below, the spread."""
    write("")
    write(title)
    sizes = sorted({n for row in rows for n in row.runs})
    header = "".join(f"{f'N={n:,}':>18}" for n in sizes)
    write(f"  {'':<48}{header}   x10 growth   limit")
    for row in rows:
        totals = row.totals
        cells = "".join(f"{_ns(totals[n]):>18}" for n in sizes)
        factors = [totals[b] / totals[a] for a, b in itertools.pairwise(sizes)]
        growth = ", ".join(f"{f:.1f}" for f in factors)
        write(f"  {row.label:<48}{cells}   {growth:<11}  {row.verdict()}")
        spreads = "".join(f"{_span(min(row.runs[n]), max(row.runs[n])):>18}" for n in sizes)
        write(f"  {'    lowest-highest run':<48}{spreads}")


def _span(low: float, high: float) -> str:
    """``low``-``high`` in the unit ``_ns`` would choose for ``high``."""
    scale, unit = (1e3, "ms") if high >= 1e-3 else (1e6, "µs") if high >= 1e-6 else (1e9, "ns")
    digits = 0 if unit == "ns" else 2
    return f"{low * scale:.{digits}f}-{high * scale:.{digits}f} {unit}"
