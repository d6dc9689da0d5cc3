"""``eventweave run --trace``: every event a plan's weavings emit, as one JSON line each.

A line holds ``time`` (UTC, ISO 8601), ``event`` (the signal's name in the
plan, or the REST event's class name), ``sender`` (``module:qualname`` of a
class), ``instance``, ``method``, ``pid``, and every other named argument
whose value is a JSON scalar (``result`` among them; ``exception`` as
``"Type: message"``). Values of secret-named arguments are masked,
and passwords and secret query values in URLs too; a string is cut at
:data:`LONGEST` characters.

The trace connects one receiver to each signal (and subscribes to each REST
registry) the plan's items emit on, once that signal's module is imported.
Writing never raises into the application: if the destination fails, the
trace stops and says so once on the ``eventweave`` logger.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _listen
from .._listen import SKIP
from .._signals import _describe
from .._weaving import when_imported

if TYPE_CHECKING:
    from ._plan import Plan
    from ._section import Emitted

__all__ = ["LONGEST", "Trace", "start"]

logger = logging.getLogger("eventweave")

LONGEST = 1000
"""Strings longer than this are cut (with ``...``) in a trace line."""


def _now() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _cut(text: str) -> str:
    return text if len(text) <= LONGEST else text[: LONGEST - 3] + "..."


def scalar(name: str, value: Any) -> Any:
    """``value`` as a trace line holds it, or ``SKIP`` when it is no JSON scalar."""
    found = _listen.scalar(name, value)
    if isinstance(found, float) and not math.isfinite(found):
        return str(found)
    return _cut(found) if isinstance(found, str) else found


_ACTIONS: dict[type, str] = {}


def _action_of(cls: type) -> str | None:
    """The action a REST event class belongs to: ``AfterCreate`` -> ``"create"``."""
    if not _ACTIONS:
        from ..rest import AFTER_EVENTS, BEFORE_EVENTS

        for table in (BEFORE_EVENTS, AFTER_EVENTS):
            _ACTIONS.update({event: action for action, event in table.items()})
    return _ACTIONS.get(cls)


def _named(value: Any) -> Any:
    """A sender or instance in a trace line: a scalar as is, a class or function by its
    ``module:qualname``, anything else as its ``str()``; secrets masked."""
    found = _listen.shown(value)
    return _cut(found) if isinstance(found, str) else found


class Trace:
    """Writes a JSON line per event to a file descriptor, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self._heard: set[int] = set()
        self._keep: list[Callable[[], object]] = []  # what stops each listener
        self.broken = False

    def write(self, record: dict[str, Any]) -> None:
        if self.broken:
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        data = line.encode("utf-8", "replace")
        try:
            with self._lock:
                while data:
                    data = data[os.write(self.fd, data) :]
        except OSError as exc:
            self.broken = True
            logger.error("the event trace stopped: writing it failed (%s)", exc)

    # -- listening ----------------------------------------------------------------

    def listen(self, emitted: Emitted) -> None:
        """Start tracing what is emitted on ``emitted`` once its module is imported."""
        when_imported(emitted.module, lambda module: self._attach(emitted))

    def _attach(self, emitted: Emitted) -> None:
        # Runs inside the application's import: log, never raise into it.
        from ..rest import RequestEvent

        try:
            found = emitted.find()
        except Exception as exc:
            logger.error("the trace cannot listen to %s: %s", emitted.name or "a registry", exc)
            return
        with self._lock:
            if id(found) in self._heard:
                return
            self._heard.add(id(found))
        name = emitted.name
        try:
            if emitted.registry:
                self._keep.append(_listen.listen(RequestEvent, self._rest_event, registry=found))
            else:
                self._keep.append(
                    _listen.listen(
                        found, lambda source, sender, named: self.event(name, sender, named)
                    )
                )
        except Exception as exc:
            logger.error("the trace cannot listen to %r: %s", found, exc)

    def _rest_event(self, cls: Any, view: Any, named: dict[str, Any]) -> None:
        event = named["event"]
        model = getattr(event, "model", None)
        record = {
            "time": _now(),
            "event": cls.__name__,
            "sender": _describe(view) if view is not None else None,
            "method": _action_of(cls),
            "pid": os.getpid(),
            # event.instance is left out: a DRF view fetches it from the database when read
            "model": _describe(model) if isinstance(model, type) else None,
        }
        self.write(record)

    def event(self, name: str, sender: Any, named: dict[str, Any]) -> None:
        record: dict[str, Any] = {
            "time": _now(),
            "event": name,
            "sender": _named(sender),
            "instance": _named(named.get("instance")),
            "method": named.get("method") if isinstance(named.get("method"), str) else None,
            "pid": os.getpid(),
        }
        for key, value in named.items():
            if key in record or key == "signal":
                continue
            if isinstance(value, BaseException):
                found: Any = _cut(f"{type(value).__name__}: {_listen.exception_message(value)}")
            else:
                found = scalar(key, value)
            if found is not SKIP:
                record[key] = found
        self.write(record)

    def close(self) -> None:
        """Stop listening (receivers are disconnected) and close the destination."""
        for stop in self._keep:
            stop()
        self._keep.clear()
        self._heard.clear()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def start(plan: Plan, destination: str) -> Trace:
    """Trace every event ``plan``'s weavings emit to ``destination``: ``"-"`` for stderr
    (the process's, even if it is redirected later, as pytest does), else a file
    appended to (each process adds whole lines).

    :raises OSError: the file cannot be opened.
    """
    if destination == "-":
        fd = os.dup(2)
    else:
        fd = os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    trace = Trace(fd)
    for emitted in plan.emitted():
        trace.listen(emitted)
    return trace
