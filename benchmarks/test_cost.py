"""Every benchmark of the cost contract runs once here, untimed, so none can rot.

``make bench`` (``python -m benchmarks``) measures them; nothing in the test
suite asserts a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eventweave

from . import cost
from ._harness import smoke


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    eventweave.unweave_all()


def test_idle_rows_run() -> None:
    smoke(cost.idle())


def test_listening_rows_run() -> None:
    smoke(cost.listening())


@pytest.mark.parametrize("n", cost.SEND_COUNTS)
def test_send_rows_run(n: int) -> None:
    smoke(cost.send(n))


def test_growth_rows_run() -> None:
    for row in cost.growth():
        row.run(10)()
