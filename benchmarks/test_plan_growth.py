"""Growth of plans: loading (parse + validate) and applying N ``[[weave]]`` entries.

The cost contract: a 10,000-entry plan loads and applies in at most 2 s, and
each grows linearly. ``make bench`` times N = 100, 1,000 and 10,000 and
prints, after the run, each size's median over the rounds with the lowest and
highest round beside it, and each step's ratio of medians (10 for linear
growth) next to the same step for ``tomllib.loads`` of the same text, the
floor any plan reader pays; the 2 s verdict is judged on the medians.
``make test`` runs N = 100 and 1,000 once, untimed.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import eventweave
from eventweave.plan import Plan, loads

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads plans with tomli
    import tomli as tomllib

SIZES = (100, 1_000, 10_000)
MODULE = "planned_growth"


def plan_text(size: int) -> str:
    return "".join(
        f'[[weave]]\ntarget = "{MODULE}:f{i}"\npost = "{MODULE}:done"\ninstance = "x"\n\n'
        for i in range(size)
    )


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A module with one function per entry of the largest plan, imported: applying weaves now."""
    root = tmp_path_factory.mktemp("growth")
    body = "".join(f"def f{i}(x):\n    return x\n\n\n" for i in range(max(SIZES)))
    source = "from eventweave import Signal\n\ndone = Signal()\n\n\n" + body
    (root / f"{MODULE}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(root))
    try:
        yield __import__(MODULE)
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(MODULE, None)


def sizes(config: pytest.Config) -> tuple[int, ...]:
    # Untimed (make test): the large plan would only repeat what the smaller show.
    return SIZES if not config.getoption("benchmark_disable", False) else SIZES[:2]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "size" in metafunc.fixturenames:
        metafunc.parametrize("size", sizes(metafunc.config))


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> None:
    request.config.pluginmanager.register(_Report(), "eventweave-plan-growth")


def test_toml_alone(benchmark: Any, size: int) -> None:
    text = plan_text(size)
    benchmark.group = "plan growth: tomllib.loads (the floor)"
    data = benchmark.pedantic(tomllib.loads, (text,), rounds=5 if size < 10_000 else 3)
    assert len(data["weave"]) == size


def test_load(benchmark: Any, size: int) -> None:
    text = plan_text(size)
    benchmark.group = "plan growth: load (parse + validate)"

    def load() -> Plan:
        plan = loads(text, "weave.toml", environ={})
        plan.items()
        return plan

    plan = benchmark.pedantic(load, rounds=5 if size < 10_000 else 3)
    assert len(plan.items()) == size


def test_apply(benchmark: Any, size: int, targets: Any) -> None:
    text = plan_text(size)
    benchmark.group = "plan growth: apply (weave now)"

    def fresh() -> tuple[tuple[Plan], dict[str, Any]]:
        eventweave.unweave_all()
        plan = loads(text, "weave.toml", environ={})
        plan.items()
        return (plan,), {}

    try:
        weavings = benchmark.pedantic(Plan.apply, setup=fresh, rounds=3)
        assert len(weavings) == size and all(w.applied for w in weavings)
    finally:
        eventweave.unweave_all()


class _Report:
    """Prints each size step's ratio after the run (10 is linear), load and apply apart."""

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        session = getattr(config, "_benchmarksession", None)
        found = {
            bench.name: bench.stats
            for bench in getattr(session, "benchmarks", None) or []
            if bench.stats and bench.name.startswith(("test_toml_alone", "test_load", "test_apply"))
        }
        if not found:
            return
        write = terminalreporter.write_line
        terminalreporter.section(
            "eventweave plan growth (median over rounds, lowest-highest round; one run)"
        )
        for test in ("test_toml_alone", "test_load", "test_apply"):
            previous = None
            for size in SIZES:
                stats = found.get(f"{test}[{size}]")
                if stats is None:
                    continue
                step = f"x{stats.median / previous:5.1f}" if previous else "      "
                spread = f"{stats.min * 1e3:.2f}-{stats.max * 1e3:.2f} ms"
                write(
                    f"{test:<16} N={size:<6} median {stats.median * 1e3:8.2f} ms  {spread:>19}"
                    f"  {step}  per entry {stats.median / size * 1e6:6.1f} µs"
                )
                previous = stats.median
        load = found.get(f"test_load[{SIZES[-1]}]")
        apply = found.get(f"test_apply[{SIZES[-1]}]")
        if load and apply:
            total = load.median + apply.median
            verdict = "ok" if total <= 2.0 else "OVER"
            write(
                f"load + apply at N={SIZES[-1]:,}, medians: {total:.2f} s "
                f"(lowest-highest {load.min + apply.min:.2f}-{load.max + apply.max:.2f} s); "
                f"contract: at most 2 s {verdict}"
            )
