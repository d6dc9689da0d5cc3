"""pytest plugin (``pytest11`` entry point): fixtures, and REST subscriptions kept per test.

Fixtures: ``capture``, ``eventweave_isolated`` and ``fake_vidispine``. Every test also
gets ``eventweave.rest.registry`` back, after it, with the subscriptions it had before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._capture import CapturedEvent
from ._capture import capture as _capture
from ._isolated import isolated, subscriptions_kept


@pytest.fixture
def capture() -> Iterator[Callable[..., list[CapturedEvent]]]:
    """``capture(*signals)`` returns a list recording their emissions until the test ends.

    Takes what :func:`eventweave.testing.capture` takes: signals and REST event classes.
    """
    with contextlib.ExitStack() as stack:

        def start(*signals: Any) -> list[CapturedEvent]:
            return stack.enter_context(_capture(*signals))

        yield start


@pytest.fixture
def eventweave_isolated() -> Iterator[None]:
    """Undo, after the test, the weavings, marks and REST subscriptions it made.

    What was in force before the test stays, such as a plan applied at start-up;
    see :func:`eventweave.testing.isolated`. Make it autouse in a ``conftest.py``
    to isolate every test.
    """
    with isolated():
        yield


@pytest.fixture(autouse=True)
def _eventweave_rest_subscriptions() -> Iterator[None]:
    with subscriptions_kept():
        yield


@pytest.fixture
def fake_vidispine() -> Iterator[Any]:
    """A started :class:`~eventweave.vidispine.fake.FakeVidispine` on loopback, stopped after.

    The requests made to it emit the Vidispine signals
    (:func:`eventweave.vidispine.instrument_http` on its URL, unwoven after the
    test), whatever client makes them; inside helper methods instrumented with
    ``instrument_helpers`` the HTTP layer stays quiet, so nothing is sent twice.
    """
    from eventweave.vidispine import instrument_http
    from eventweave.vidispine.fake import FakeVidispine

    with FakeVidispine() as server, instrument_http(server.url):
        yield server
