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
from typing import TYPE_CHECKING, Any

from .._advice import MASK, SECRET_NAMES, is_secret
from .._signals import _describe
from .._weaving import when_imported

if TYPE_CHECKING:
    from ._plan import Plan
    from ._section import Emitted

__all__ = ["LONGEST", "Trace", "start"]

logger = logging.getLogger("eventweave")

LONGEST = 1000
"""Strings longer than this are cut (with ``...``) in a trace line."""

_SKIP = object()


def _now() -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _cut(text: str) -> str:
    return text if len(text) <= LONGEST else text[: LONGEST - 3] + "..."


def _masked_text(text: str) -> str:
    from ..vidispine._http import _mask_text  # parses URLs, forms, JSON: masks what is secret

    masked = _mask_text(text)
    return masked if isinstance(masked, str) else text


def scalar(name: str, value: Any) -> Any:
    """``value`` as a trace line holds it, or ``_SKIP`` when it is no JSON scalar."""
    if value is None or isinstance(value, (bool, int)):
        return MASK if value is not None and is_secret(name, SECRET_NAMES) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return MASK if is_secret(name, SECRET_NAMES) else _cut(_masked_text(value))
    return _SKIP


def _named(value: Any) -> Any:
    """A sender or instance in a trace line: a scalar as is, a class or function by its
    ``module:qualname``, anything else as its ``str()``."""
    found = scalar("", value)
    if found is not _SKIP:
        return found
    if isinstance(value, type) or callable(value):
        return _describe(value)
    try:
        return _cut(_masked_text(str(value)))
    except Exception:
        return f"<{type(value).__qualname__}>"


class Trace:
    """Writes a JSON line per event to a file descriptor, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self._heard: set[int] = set()
        self._keep: list[Any] = []  # what it is connected to, and its receivers
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
        try:
            found = emitted.find()
        except Exception as exc:
            logger.error("the trace cannot listen to %s: %s", emitted.name or "a registry", exc)
            return
        with self._lock:
            if id(found) in self._heard:
                return
            self._heard.add(id(found))
        try:
            if emitted.registry:
                self._subscribe(found)
            else:
                self._connect(found, emitted.name)
        except Exception as exc:
            logger.error("the trace cannot listen to %r: %s", found, exc)

    def _connect(self, signal: Any, name: str) -> None:
        def traced(*args: Any, **named: Any) -> None:
            # blinker passes the sender positionally, Django and eventweave by name
            sender = args[0] if args else named.get("sender")
            self.event(name, sender, named)

        self._keep.append((signal, traced))
        signal.connect(traced, weak=False)

    def _subscribe(self, registry: Any) -> None:
        from ..rest import AFTER_EVENTS, BEFORE_EVENTS, RequestEvent

        actions = {
            cls: action for table in (BEFORE_EVENTS, AFTER_EVENTS) for action, cls in table.items()
        }

        def traced(event: Any) -> None:
            view = getattr(event, "view", None)
            model = getattr(event, "model", None)
            record = {
                "time": _now(),
                "event": type(event).__name__,
                "sender": _describe(type(view)) if view is not None else None,
                "method": actions.get(type(event)),
                "pid": os.getpid(),
                # event.instance is left out: a DRF view fetches it from the database when read
                "model": _describe(model) if isinstance(model, type) else None,
            }
            self.write(record)

        self._keep.append((registry, traced))
        registry.subscribe(traced, RequestEvent)

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
                found: Any = _cut(_masked_text(f"{type(value).__name__}: {value}"))
            else:
                found = scalar(key, value)
            if found is not _SKIP:
                record[key] = found
        self.write(record)

    def close(self) -> None:
        """Stop listening (receivers are disconnected) and close the destination."""
        for target, traced in self._keep:
            if hasattr(target, "unsubscribe"):
                target.unsubscribe(traced)
            else:
                target.disconnect(traced)
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
