"""OpenTelemetry: eventweave's events as span events, or each pre/post pair as a child span.

Needs ``opentelemetry-api`` (``pip install "eventweave-aop[otel]"``) and, to export
anything, an SDK set up as usual (``opentelemetry-sdk``, ``opentelemetry-instrument``)::

    from eventweave.contrib.otel import trace
    from eventweave.vidispine import signals

    tracing = trace(signals.vidispine_post_modify, signals.vidispine_failed)
    ...
    tracing.close()

or from a plan (:class:`PlanSection`)::

    [otel]
    signals = ["eventweave.vidispine.signals:vidispine_post_modify", "AfterCreate"]
    spans = false
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import Span, Status, StatusCode, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = (
        "eventweave.contrib.otel needs the OpenTelemetry API; install it with "
        "'pip install eventweave-aop[otel]'"
    )
    raise ImportError(msg) from exc

from eventweave._listen import (
    SKIP,
    SourceName,
    exception_message,
    exception_stacktrace,
    is_event_class,
    listen,
    name_sources,
    scalar,
    shown,
)
from eventweave._signals import _describe
from eventweave._version import __version__
from eventweave._weaving import Weaving
from eventweave.plan import Plan
from eventweave.plan._section import Context, Item, Row, Section, once
from eventweave.plan._sources import by_module, check_registry, read_sources, resolve_source
from eventweave.plan._values import ImportPath, Table
from eventweave.rest import AFTER_EVENTS, BEFORE_EVENTS, AfterEvent, BeforeEvent

__all__ = ["Tracing", "trace"]

Attributes = dict[str, AttributeValue]

# Sent with every Emit signal and redundant with the parameters sent by name.
_NOT_ATTRIBUTES = frozenset({"args", "kwargs", "signal", "exception"})

# The pairs open in a context, innermost last. Kept in the OpenTelemetry context
# itself, so that whatever resets that context (a server instrumentation ending
# its request) forgets them with it, and each thread and asyncio task sees its own.
_OPEN = otel_context.create_key("eventweave-open-pairs")


class _Role(NamedTuple):
    """What an event source does when spans are made: open a pair, close one, or neither."""

    name: str  # the span event's name: the signal's or the event class's
    kind: str  # "start", "end" or "event"
    pair: tuple[str, ...] | None  # shared by a start and its end
    span_name: str | None  # a start's span: its name without "pre" / "Before"


def _signal_role(where: SourceName) -> _Role:
    tokens = where.name.split("_")
    for token, kind in (("pre", "start"), ("post", "end")):
        if token in tokens:
            pair = (where.module, *("*" if t == token else t for t in tokens))
            span_name = "_".join(t for t in tokens if t != token) if kind == "start" else None
            return _Role(where.name, kind, pair, span_name or where.name)
    return _Role(where.name, "event", None, None)


# eventweave's REST events pair through eventweave.rest's tables: the Before and
# the After event of one action. The span is named after the Before class
# without "Before": "Create", "UpdateMany".
def _rest_roles() -> dict[type, _Role]:
    roles: dict[type, _Role] = {}
    for action, before in BEFORE_EVENTS.items():
        span_name = before.__name__.removeprefix("Before")
        roles[before] = _Role(before.__name__, "start", ("eventweave.rest", action), span_name)
    for action, after in AFTER_EVENTS.items():
        roles[after] = _Role(after.__name__, "end", ("eventweave.rest", action), None)
    return roles


_REST_ROLES = _rest_roles()
_AFTER_OF: dict[type, type] = {
    BeforeEvent: AfterEvent,  # every Before event is ended by an After event
    **{before: AFTER_EVENTS[action] for action, before in BEFORE_EVENTS.items()},
}


def _event_class_role(cls: type) -> _Role:
    """The role of a REST event class: from the tables, or, for a class of the
    application's own, from its name (``BeforeArchive`` with ``AfterArchive`` of
    its module)."""
    role = _REST_ROLES.get(cls)
    if role is not None:
        return role
    name = cls.__name__
    for prefix, kind in (("Before", "start"), ("After", "end")):
        action = name.removeprefix(prefix)
        if action != name and action:
            return _Role(name, kind, (cls.__module__, action), action)
    return _Role(name, "event", None, None)


def _partner(cls: type) -> type | None:
    """The After class that ends the spans of a Before class, or None for no Before class."""
    if cls in _AFTER_OF:
        return _AFTER_OF[cls]
    if cls in _REST_ROLES or not cls.__name__.startswith("Before"):
        return None
    partner = getattr(sys.modules.get(cls.__module__), "After" + cls.__name__[6:], None)
    return partner if isinstance(partner, type) else None


def _signal_attributes(sender: Any, named: dict[str, Any]) -> Attributes:
    attributes: Attributes = {}
    if sender is not None:
        found = scalar("", sender)
        attributes["sender"] = _describe(sender) if found is SKIP else found
    for key, value in named.items():
        if key in _NOT_ATTRIBUTES or value is None:
            continue
        found = shown(value) if key == "instance" else scalar(key, value)
        if found is not SKIP and found is not None:
            attributes[key] = found
    return attributes


def _event_attributes(sender: Any, event: Any) -> Attributes:
    # event.instance is left alone: Django REST framework's is fetched when read.
    attributes: Attributes = {}
    if sender is not None:
        attributes["sender"] = _describe(sender)
    if event.model is not None:
        attributes["model"] = _describe(event.model)
    if event.fields:
        attributes["fields"] = sorted(event.fields)
    return attributes


class _Open:
    """One pair whose start was seen and whose end was not yet."""

    __slots__ = ("_lock", "ended", "finalizer", "method", "pair", "sender", "span", "token")

    def __init__(self, pair: tuple[str, ...] | None, span: Span, sender: Any, method: Any) -> None:
        self.pair = pair
        self.span = span
        self.sender = sender
        self.method = method
        self.token: object = None
        self.ended = False
        self.finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()

    def end(self, description: str | None = None, exception: BaseException | None = None) -> bool:
        """End the span (with status ERROR when ``description`` is given), once."""
        with self._lock:
            if self.ended:
                return False
            self.ended = True
        if self.finalizer is not None:
            self.finalizer.detach()
        if exception is not None:
            # The SDK would show str(exception) as it is: a URL's password with it.
            masked: Attributes = {
                "exception.message": exception_message(exception),
                "exception.stacktrace": exception_stacktrace(exception),
            }
            self.span.record_exception(exception, masked)
        if description is not None:
            self.span.set_status(Status(StatusCode.ERROR, description))
        self.span.end()
        return True


def _open_pairs() -> tuple[_Open, ...]:
    """The pairs open in the current context, after closing out those that ended meanwhile.

    A pair ends behind our back when the view of a REST action that raised is
    collected (no After event comes then); its context is put back as it was.
    """
    pairs: tuple[_Open, ...] = otel_context.get_value(_OPEN) or ()  # type: ignore[assignment]
    while pairs and pairs[-1].ended:
        top = pairs[-1]
        otel_context.detach(top.token)  # type: ignore[arg-type]
        now: tuple[_Open, ...] = otel_context.get_value(_OPEN) or ()  # type: ignore[assignment]
        if now and now[-1] is top:  # attached in another context: leave that one alone
            return tuple(pair for pair in now if not pair.ended)
        pairs = now
    return pairs


def _key(source: Any) -> object:
    # A signal need not be hashable: signals are told apart by identity (the
    # Tracing keeps them alive), event classes by themselves.
    return source if isinstance(source, type) else id(source)


class Tracing:
    """The receivers :func:`trace` connected; :meth:`close` disconnects them.

    Also a context manager that closes on exit.

    :ivar signals: the signals and event classes traced.
    :ivar spans: whether pre/post pairs become child spans.
    """

    def __init__(self, sources: tuple[Any, ...], spans: bool, tracer: Tracer) -> None:
        self.signals = sources
        self.spans = spans
        self._tracer = tracer
        self._roles: dict[object, _Role] = {}  # by _key()
        self._disconnects: list[Callable[[], object]] = []
        names = name_sources(sources)
        for source, where in zip(sources, names, strict=True):
            if not is_event_class(source):
                self._roles[_key(source)] = _signal_role(where)
        if spans:
            self._check_pairs(names)

    def _check_pairs(self, names: list[SourceName]) -> None:
        ends = {role.pair for role in self._roles.values() if role.kind == "end"}
        classes = [source for source in self.signals if is_event_class(source)]
        for source, where in zip(self.signals, names, strict=True):
            role = self._roles.get(_key(source))
            if role is not None:
                if role.kind == "start" and role.pair not in ends:
                    post = "_".join("post" if t == "pre" else t for t in where.name.split("_"))
                    msg = (
                        f"trace(spans=True): {where.name} opens a span that nothing would "
                        f"end; trace its post signal ({post}) too"
                    )
                    raise ValueError(msg)
            else:
                partner = _partner(source)
                if partner is not None and not any(issubclass(partner, c) for c in classes):
                    msg = (
                        f"trace(spans=True): {source.__name__} opens a span that nothing "
                        f"would end; trace {partner.__name__} too"
                    )
                    raise ValueError(msg)

    def _connect(self) -> None:
        try:
            for source in self.signals:
                self._disconnects.append(listen(source, self._on_event, caller="trace()"))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Disconnect every receiver; spans still open are left to their pairs' end."""
        disconnects, self._disconnects = self._disconnects, []
        for disconnect in reversed(disconnects):
            disconnect()

    def __enter__(self) -> Tracing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._disconnects else "closed"
        mode = "spans" if self.spans else "span events"
        return f"<Tracing {len(self.signals)} sources as {mode} ({state})>"

    # -- per event -------------------------------------------------------------------

    def _role(self, source: Any) -> _Role:
        role = self._roles.get(_key(source))
        if role is None:  # an event class seen for the first time
            role = self._roles[source] = _event_class_role(source)
        return role

    def _on_event(self, source: Any, sender: Any, named: dict[str, Any]) -> None:
        role = self._role(source)
        event = named.get("event") if is_event_class(source) else None
        if event is not None:
            attributes = _event_attributes(sender, event)
        else:
            attributes = _signal_attributes(sender, named)
        exception = named.get("exception")
        if not isinstance(exception, BaseException):
            exception = None
        if self.spans:
            if role.kind == "start":
                self._start(role, sender, named, attributes, event)
                return
            if role.kind == "end" and self._end(role, attributes):
                return
            if exception is not None and self._fail(sender, named, exception):
                return
        _add_event(role.name, attributes, exception)

    def _start(
        self,
        role: _Role,
        sender: Any,
        named: dict[str, Any],
        attributes: Attributes,
        event: Any,
    ) -> None:
        pairs = _open_pairs()
        parent = otel_context.get_current()
        span = self._tracer.start_span(role.span_name or role.name, parent, attributes=attributes)
        entry = _Open(role.pair, span, sender, named.get("method"))
        context = otel_context.set_value(_OPEN, (*pairs, entry), parent)
        entry.token = otel_context.attach(otel_trace.set_span_in_context(span, context))
        view = getattr(event, "view", None)
        if view is not None:
            # An action that raises fires no After event: its span ends when the
            # view (one per request) is collected.
            # (TypeError: a view that cannot be weakly referenced; it then stays open.)
            with contextlib.suppress(TypeError):
                entry.finalizer = weakref.finalize(
                    view, entry.end, f"{role.name} had no After event: the action raised"
                )

    def _end(self, role: _Role, attributes: Attributes) -> bool:
        pairs = _open_pairs()
        for index in range(len(pairs) - 1, -1, -1):
            if pairs[index].pair == role.pair:
                break
        else:
            return False
        self._close_at(pairs, index, attributes=attributes)
        return True

    def _fail(self, sender: Any, named: dict[str, Any], exception: BaseException) -> bool:
        pairs = _open_pairs()
        if not pairs:
            return False
        method = named.get("method")
        index = next(
            (
                i
                for i in range(len(pairs) - 1, -1, -1)
                if pairs[i].sender is sender and pairs[i].method == method
            ),
            len(pairs) - 1,
        )
        description = f"{type(exception).__qualname__}: {exception_message(exception)}"
        self._close_at(pairs, index, description=description, exception=exception)
        return True

    @staticmethod
    def _close_at(
        pairs: tuple[_Open, ...],
        index: int,
        *,
        attributes: Attributes | None = None,
        description: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        for inner in reversed(pairs[index + 1 :]):
            inner.end("ended without its post event")
        entry = pairs[index]
        if attributes:
            entry.span.set_attributes(attributes)
        entry.end(description, exception)
        # Back to the context before the pair began: the inner pairs go with it.
        otel_context.detach(entry.token)  # type: ignore[arg-type]


def _add_event(name: str, attributes: Attributes, exception: BaseException | None) -> None:
    span = otel_trace.get_current_span()
    if not span.is_recording():
        return
    if exception is not None:
        attributes["exception.type"] = type(exception).__qualname__
        attributes["exception.message"] = exception_message(exception)
    span.add_event(name, attributes)


def trace(
    *signals: Any, spans: bool = False, tracer_provider: TracerProvider | None = None
) -> Tracing:
    """Record the events of ``signals`` in OpenTelemetry; returns what :meth:`Tracing.close` stops.

    By default each event becomes a span event on the current span, named after
    the signal (``vidispine_post_modify``) or event class (``AfterCreate``), with
    the attributes ``sender`` (``module:qualname``), ``method``, ``instance`` and
    every argument that is a string, number or boolean; arguments named like
    secrets are :data:`eventweave.MASK`, and so are the passwords and secret
    parameters of URLs in text, as in the trace of ``eventweave run``. An event
    carrying ``exception`` (such as ``vidispine_failed``) adds ``exception.type``
    and ``exception.message``. REST events give ``sender`` (the view class),
    ``model`` and ``fields`` (the names).

    With ``spans=True`` each pre/post pair becomes a child span of the current span,
    current itself until its post event ends it: signals pair by name
    (``vidispine_pre_create`` with ``vidispine_post_create``, ``pre_pay`` with
    ``post_pay``; the span is named without ``pre``: ``vidispine_create``), event
    classes by action, as ``eventweave.rest.BEFORE_EVENTS`` and ``AFTER_EVENTS``
    list them (``BeforeCreate`` with ``AfterCreate``; the span is named
    ``Create``), and classes of the application's own by name (``BeforeArchive``
    with ``AfterArchive`` of its module). An event carrying ``exception`` ends
    the innermost open span of the same sender and method with status ERROR and
    the exception recorded (its message masked as the attributes are). Pairs
    are matched within the current thread or asyncio task, innermost first; a span
    whose post never came is ended, with status ERROR, when an enclosing pair ends
    (or, for a REST action that raised, when its view is collected). Other events
    stay span events.

    :param signals: eventweave, Django or blinker signals, and REST event classes
        (``eventweave.rest.AfterCreate``, ``BeforeEvent`` for every before event ...),
        which are followed on ``eventweave.rest.registry``.
    :param spans: make child spans of pre/post pairs instead of span events.
    :param tracer_provider: the provider to take the tracer from; the global one
        by default.
    :raises TypeError: for an argument that is neither a signal nor an event class.
    :raises ValueError: with ``spans=True``, for a pre signal or Before class whose
        post signal or After class is not traced as well.
    """
    if not signals:
        msg = "trace() needs at least one signal or REST event class to trace"
        raise TypeError(msg)
    if not isinstance(spans, bool):
        msg = f"trace(spans=...): expected True or False, got {spans!r}"
        raise TypeError(msg)
    tracer = otel_trace.get_tracer("eventweave", __version__, tracer_provider)
    tracing = Tracing(signals, spans, tracer)
    tracing._connect()
    return tracing


# -- plans ---------------------------------------------------------------------------


class PlanSection(Section):
    """``[otel]``: :func:`trace` from a plan.

    ::

        [otel]
        signals = [
            "eventweave.vidispine.signals:vidispine_pre_create",
            "eventweave.vidispine.signals:vidispine_post_create",
            "eventweave.vidispine.signals:vidispine_failed",
            "BeforeCreate", "AfterCreate",
        ]
        spans = true          # default: false, span events

    ``signals`` are import paths of signals, or REST event names (classes of
    :mod:`eventweave.rest`). The signals of one module are traced together, by
    one :func:`trace` call, once that module is imported: a pre signal and its
    post, which live in one module, pair up. Applying the plan again traces
    nothing twice. The tracer comes from the global tracer provider when the
    first span starts, so a provider the program sets up after the plan was
    applied (at interpreter start-up, say) is the one used.
    """

    name = "otel"
    keys = ("signals", "spans")

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        if "signals" not in table:
            raise self.where.error(
                "needs signals = [...]: import paths of signals, or REST event names "
                "such as 'AfterCreate'"
            )
        self.signals = read_sources(table, "signals")
        self.spans = table.boolean("spans")

    def items(self, plan: Plan) -> list[Item]:
        for path in self.signals:
            check_registry(plan, path, "OpenTelemetry")
        how = "child spans of pre/post pairs" if self.spans else "span events"
        items = []
        for module, paths in by_module(self.signals).items():
            rows = tuple(
                Row(path.where, path.text, f"traced in OpenTelemetry: {how}") for path in paths
            )
            run = self._tracing(paths)
            items.append(Item(paths[0].where, run, (module,), wait=True, rows=rows))
        return items

    def _tracing(self, paths: list[ImportPath]) -> Callable[[Context], list[Weaving]]:
        spans = self.spans

        def run(context: Context) -> list[Weaving]:
            sources = [resolve_source(path) for path in paths]
            key = ("otel", spans, *(id(source) for source in sources))
            once(context, key, lambda: trace(*sources, spans=spans).close)
            return []

        return run
