"""Record what signals and REST event classes emit, in order, for assertions in tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from eventweave._listen import listen

__all__ = ["CapturedEvent", "capture"]


class CapturedEvent(NamedTuple):
    """One emission: the signal, its sender, and every other named argument.

    For a REST event class, ``signal`` is the class of the event notified (a
    subclass of the class captured, possibly), ``sender`` the class of the view
    that fired it, and ``kwargs`` is ``{"event": event}``.
    """

    signal: Any
    sender: Any
    kwargs: dict[str, Any]


@contextlib.contextmanager
def capture(*signals: Any) -> Iterator[list[CapturedEvent]]:
    """Collect every emission of ``signals`` inside the block.

    Yields a list that fills, in emission order, with :class:`CapturedEvent`
    records. Works with eventweave, Django and blinker signals, and with REST
    event classes (``AfterCreate``, ``BeforeEvent`` for every before event ...),
    whose events are recorded as ``eventweave.rest.registry`` notifies them. The
    recording receivers are strong references and are disconnected on exit, even
    on error, so nothing is left connected.

    :param signals: the signals and event classes to record (at least one).
    """
    if not signals:
        msg = "capture() needs at least one signal to record"
        raise TypeError(msg)
    events: list[CapturedEvent] = []
    lock = threading.Lock()

    def record(signal: Any, sender: Any, named: dict[str, Any]) -> None:
        with lock:
            events.append(CapturedEvent(signal, sender, named))

    undo: list[Callable[[], object]] = []
    try:
        for signal in signals:
            undo.append(listen(signal, record, caller="capture()"))
        yield events
    finally:
        for disconnect in reversed(undo):
            disconnect()
