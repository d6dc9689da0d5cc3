"""What the HTTP instrumentation adds to a ``requests`` call (DESIGN.md, "I/O paths").

The contract: with a receiver connected, at most 20 µs per request. Measured on
the call expression itself (``timeit`` compiles ``session.get(url)`` into its
loop: no lambda or helper frame on either side), against the same request
without the instrumentation. The bare side is a session whose ``request`` is
``requests.Session.request`` as it was before anything was woven (a copy of
the function, made first, running its own code object): so both sides can be
woven and timed side by side, in rounds that alternate which side goes first,
and a round's two timings are a few milliseconds apart. Each side makes one
untimed request first (the instrumented side builds its listening form on
its first call), so both are timed in their steady state. Each timing is one
plain measurement of ``CALLS`` requests (never the best of several), so the
median and quartiles below describe the measurements themselves. Requests
are answered in-process by a ``requests`` transport adapter, so neither side
pays for a socket and network noise does not hide the difference.

The receiver is the common one: it reads ``method`` and ``url`` (an audit
log). ``make bench`` prints, per request shape, the median bare time, the
median added time over the rounds, the spread between its first and third
quartile, and the median ratio; ``make test`` runs each case once, untimed.
"""

from __future__ import annotations

import statistics
import time
import timeit
import types
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

import eventweave
from eventweave import MASK
from eventweave.vidispine import instrument_http, signals

API = "http://vidispine.bench/API"
ROUNDS = 201  # bare / instrumented pairs, each side timed once per round
CALLS = 40  # requests per timing
LIMIT_US = 20.0

CASES = {
    "GET, no body": f'session.get("{API}/item/VX-1")',
    "PUT, JSON body and auth": (
        f'session.put("{API}/item/VX-1/metadata", json=DOCUMENT, auth=("admin", "s3cret"))'
    ),
    "POST, XML body with a password": (
        f'session.post("{API}/user", data=USER_XML, auth=("admin", "s3cret"))'
    ),
}
DOCUMENT = {
    "timespan": [
        {
            "field": [{"name": "title", "value": [{"value": "Outro"}]}],
            "start": "-INF",
            "end": "+INF",
        }
    ]
}
USER_XML = (
    '<UserDocument xmlns="http://xml.vidispine.com/schema/vidispine">'
    "<userName>alice</userName><password>pw1</password></UserDocument>"
)


class InProcess(BaseAdapter):
    """Answers every request at once with a small JSON document, as Vidispine would."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.headers["Content-Type"] = "application/json"
        response._content = b'{"id": "VX-1"}'
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


seen: list[tuple[str, str]] = []


def audit(sender: Any, method: str, url: str, **named: Any) -> None:
    """The receiver: an audit line per event, reading ``method`` and ``url``."""
    seen.append((method, url))
    del seen[:-10]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.mount(API, InProcess())
        yield session


@pytest.fixture(autouse=True)
def _receiver() -> Iterator[None]:
    operation_signals = [
        getattr(signals, f"vidispine_{phase}_{family}")
        for phase in ("pre", "post")
        for family in ("create", "modify", "delete", "get")
    ]
    for signal in operation_signals:
        signal.connect(audit)
    yield
    for signal in operation_signals:
        signal.disconnect(audit)


class _Report:
    """Prints the rows at the end of the run (a plugin registered by the first case)."""

    rows: list[tuple[str, float, float, float, float, float]] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        write = terminalreporter.write_line
        terminalreporter.section("eventweave HTTP instrumentation: added per request")
        write(f"{'request':<34} {'bare':>8} {'added':>8} {'quartiles':>17} {'ratio':>6}  limit")
        for name, bare, added, low, high, ratio in self.rows:
            verdict = "ok" if added <= LIMIT_US else "OVER"
            write(
                f"{name:<34} {bare:6.1f}µs {added:6.1f}µs {low:7.1f}..{high:6.1f}µs "
                f"{ratio:6.3f}  ≤ {LIMIT_US:.0f} µs {verdict}"
            )
        write(
            f"medians and quartiles of {ROUNDS} rounds, each side timed once per round "
            f"({CALLS} requests), the side timed first alternating"
        )


def _copy(function: types.FunctionType) -> types.FunctionType:
    # Written here rather than borrowed from eventweave: the bare side owes
    # nothing to the library it is measured against.
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy


class BareSession(requests.Session):
    """A session running ``Session.request``'s own code, whatever is woven into it later."""


def _bare(session: requests.Session) -> requests.Session:
    assert not eventweave.woven(), "the bare request must be copied before any weaving"
    BareSession.request = _copy(requests.Session.request)  # type: ignore[method-assign]
    bare = BareSession()
    bare.adapters = session.adapters
    return bare


def _interleaved(statement: str, session: requests.Session) -> tuple[float, ...]:
    """Median bare time, median added time, its quartiles (µs) and median ratio."""
    bare_session = _bare(session)
    # CPU time of this process: on a shared machine, time spent running other
    # processes would otherwise land on whichever side was being timed.
    timers = []
    for side in (bare_session, session):
        namespace = {"session": side, "DOCUMENT": DOCUMENT, "USER_XML": USER_XML}
        timers.append(timeit.Timer(statement, timer=time.process_time, globals=namespace))
        eval(compile(statement, "<request>", "eval"), namespace)  # untimed, before weaving
    bare_times, added, ratios = [], [], []
    weaving = instrument_http(API)
    try:
        for timer in timers:
            timer.timeit(1)  # untimed: the woven side builds its listening form
        for index in range(ROUNDS):
            order = timers if index % 2 == 0 else timers[::-1]
            first, second = (timer.timeit(CALLS) / CALLS for timer in order)
            bare, woven = (first, second) if index % 2 == 0 else (second, first)
            bare_times.append(bare * 1e6)
            added.append((woven - bare) * 1e6)
            ratios.append(woven / bare)
    finally:
        weaving.unweave()
    low, _, high = statistics.quantiles(added, n=4)
    return (
        statistics.median(bare_times),
        statistics.median(added),
        low,
        high,
        statistics.median(ratios),
    )


@pytest.mark.parametrize("name", list(CASES))
def test_http_instrumentation_added_cost(
    benchmark: Any, request: pytest.FixtureRequest, session: requests.Session, name: str
) -> None:
    statement = CASES[name]
    namespace = {"session": session, "DOCUMENT": DOCUMENT, "USER_XML": USER_XML}
    weaving = instrument_http(API)
    try:
        seen.clear()
        eval(statement, namespace)  # the instrumentation really runs, and masks
        assert len(seen) == 2
        assert all(url.startswith(API) and MASK not in url for _, url in seen)
        # pytest-benchmark's own row: the instrumented request alone
        benchmark(eval, compile(statement, "<request>", "eval"), namespace)
    finally:
        weaving.unweave()
    if benchmark.disabled:
        return
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("eventweave-http-cost"):
        plugins.register(_Report(), "eventweave-http-cost")
    _Report.rows.append((name, *_interleaved(statement, session)))
