"""What instrumenting a Django REST framework view costs a request: `make bench` prints it.

The request is a ``retrieve`` (GET on a detail route) of the test project's
``AssetViewSet`` through DRF's ``APIClient``: routing, middleware, DRF's
dispatch, one query, rendering. It is timed three ways:

- **baseline**: the viewset as written, uninstrumented;
- **no subscriber**: after ``instrument_view(AssetViewSet)``;
- **Before + After subscriber**: the same with one ``BeforeShow`` and one
  ``AfterShow`` subscriber that do nothing, so what is measured is
  eventweave's work (building both events, notifying, handing the response
  back), not a subscriber's.

The machine running this is shared and its load changes from one second to
the next, so the three set-ups take turns in short blocks (a few requests
each, in an order rotated per round), and every request is timed on its own:
``perf_counter()`` around the call expression ``client.get(url)`` itself, the
garbage collector off as ``timeit`` does. Each set-up thus sees the same load.
A ratio divides the median time of an instrumented set-up by the median time
of the baseline, over the whole run; its spread is the same ratio computed
for each fifth of the run (lowest and highest). The limits are the issue's:
1.02 and 1.05. Nothing is asserted about time; ``make test`` runs this once,
untimed.
"""

from __future__ import annotations

import tests.contrib.django_setup  # noqa: F401  (configures Django on import: first)

# isort: split

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

import eventweave
from eventweave.rest import AfterShow, BeforeShow, RequestEvent, instrument_view, registry
from tests.drf.models import Asset
from tests.drf.views import AssetViewSet

ROUNDS = 300
BLOCK = 8  # requests per set-up and round
CHUNKS = 5  # the spread: the ratio in each fifth of the run

LIMITS = {"no subscriber": 1.02, "Before + After subscriber": 1.05}


def do_nothing(event: RequestEvent) -> None:
    """A subscriber that does nothing: the cost measured is eventweave's."""


@contextlib.contextmanager
def baseline() -> Iterator[None]:
    yield


@contextlib.contextmanager
def no_subscriber() -> Iterator[None]:
    instrument_view(AssetViewSet)
    try:
        yield
    finally:
        eventweave.unweave_all()


@contextlib.contextmanager
def before_and_after_subscriber() -> Iterator[None]:
    registry.subscribe(do_nothing, BeforeShow)
    registry.subscribe(do_nothing, AfterShow)
    try:
        with no_subscriber():
            yield
    finally:
        registry.unsubscribe(do_nothing)


SETUPS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "baseline": baseline,
    "no subscriber": no_subscriber,
    "Before + After subscriber": before_and_after_subscriber,
}


class DRFCostReport:
    """Prints the measured ratios at the end of the run (a plugin the test registers)."""

    name = "eventweave-drf-cost"

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float, float]] = []
        self.request_us = 0.0

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if not self.rows:
            return
        write = terminalreporter.write_line
        terminalreporter.section(
            f"DRF retrieve through APIClient (median {self.request_us:.0f} µs): "
            "instrumented ÷ uninstrumented, medians of interleaved requests"
        )
        write(f"{'instrumented, with':<28} {'ratio':>6}  {'spread (fifths of the run)':<26} limit")
        for label, ratio, low, high, limit in self.rows:
            verdict = "ok" if ratio <= limit else "OVER"
            write(f"{label:<28} {ratio:6.3f}  {low:.3f} - {high:<18.3f} ≤ {limit}  {verdict}")


def report_of(config: pytest.Config) -> DRFCostReport:
    report = config.pluginmanager.get_plugin(DRFCostReport.name)
    if report is None:
        report = DRFCostReport()
        config.pluginmanager.register(report, DRFCostReport.name)
    assert isinstance(report, DRFCostReport)
    return report


@pytest.fixture(scope="module")
def url() -> str:
    call_command("migrate", run_syncdb=True, verbosity=0)
    asset = Asset.objects.create(title="Trailer", kind="video", tags="new")
    return f"/drf/assets/{asset.pk}/"


def check_setups(client: APIClient, url: str) -> None:
    """Each set-up answers the same, and the instrumented ones really fire events."""
    expected = client.get(url).json()
    for name, setup in SETUPS.items():
        got: list[RequestEvent] = []
        with setup():
            if name != "baseline":
                registry.subscribe(got.append, RequestEvent)
            try:
                assert client.get(url).json() == expected
            finally:
                registry.unsubscribe(got.append)
        assert len(got) == (0 if name == "baseline" else 2), name
    assert not eventweave.woven() and not registry.receivers


def test_drf_retrieve_cost(benchmark: Any, url: str, request: pytest.FixtureRequest) -> None:
    client = APIClient()
    check_setups(client, url)
    if benchmark.disabled:  # make test: checked above, nothing to time
        benchmark(client.get, url)
        return

    perf = time.perf_counter
    times: dict[str, list[float]] = {name: [] for name in SETUPS}
    names = list(SETUPS)
    gc.collect()
    gc.disable()
    try:
        for round_ in range(ROUNDS):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                record = times[name].append
                with SETUPS[name]():
                    client.get(url)  # the first request after weaving refills caches
                    for _ in range(BLOCK):
                        start = perf()
                        client.get(url)
                        record(perf() - start)
            if round_ % 20 == 19:
                gc.collect()
    finally:
        gc.enable()

    report = report_of(request.config)
    report.request_us = statistics.median(times["baseline"]) * 1e6
    size = len(times["baseline"]) // CHUNKS
    for name, limit in LIMITS.items():
        ratio = statistics.median(times[name]) / statistics.median(times["baseline"])
        parts = [
            statistics.median(times[name][i : i + size])
            / statistics.median(times["baseline"][i : i + size])
            for i in range(0, size * CHUNKS, size)
        ]
        report.rows.append((name, ratio, min(parts), max(parts), limit))

    # The pytest-benchmark table gets the instrumented request with subscribers.
    with before_and_after_subscriber():
        benchmark.pedantic(client.get, args=(url,), rounds=200, iterations=1, warmup_rounds=20)
