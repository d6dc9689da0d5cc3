"""``[[connect]]``: receivers connected from a plan, without a line of code.

::

    [[connect]]
    receiver = "myapp.audit:log_login"
    signals = ["eventweave.portal.signals:portal_post_login"]
    sender = "myportal.views:LoginView"          # optional

    [[connect]]
    receiver = "myapp.audit:item_created"
    events = ["AfterCreate", "AfterReplace"]     # REST events, on the registry
    model = "myapp.models:Item"                   # optional
    field = "title"                               # optional

A receiver is connected once its signal's module is imported (eventweave's
own signals: at once). The receiver itself, and ``sender`` and ``model``,
are imported when first needed: when an event comes, or at once if their
module already is. So a plan applied at interpreter start-up connects a
Django receiver whose module imports models, without importing them before
Django is set up. Plans hold their receivers strongly; applying a plan
again connects nothing twice.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._signals import _check_receiver
from .._weaving import Weaving
from .._weaving._targets import imported, nearest
from ._errors import PlanError, shown
from ._rest import registry_emitted
from ._section import Context, Item, Row, Section, once
from ._sources import event_classes
from ._values import ImportPath, Table, import_path

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Connect"]

logger = logging.getLogger("eventweave")

_EVENT_KEYS = ("events", "model", "field", "registry")


class Connect(Section):
    """One ``[[connect]]`` table: a receiver for signals, or for REST events."""

    name = "connect"
    array = True
    keys = ("receiver", "signals", "sender", *_EVENT_KEYS)

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        if "receiver" not in table:
            raise self.where.error("needs receiver = 'package.module:function'")
        self.receiver = table.path("receiver")
        has_signals, has_events = "signals" in table, "events" in table
        if has_signals == has_events:
            raise self.table.error(
                "connects to signals = ['package.module:signal', ...] or to REST "
                "events = ['AfterCreate', ...]: give one of them",
                "receiver",
            )
        self.signals: list[ImportPath] = []
        self.events: list[str] = []
        if has_signals:
            for key in _EVENT_KEYS[1:]:
                if key in table:
                    raise table.error(f"{key} goes with events = [...], not signals", key)
            for text in table.strings("signals", "an import path 'package.module:signal'"):
                where = table.where_item("signals", text)
                path = import_path(text, where)
                if not path.attrs:
                    raise where.error(f"{shown(text)} names a module; name the signal in it")
                self.signals.append(path)
        else:
            if "sender" in table:
                raise table.error(
                    "sender goes with signals = [...]; REST events take model", "sender"
                )
            known = event_classes()
            for name in table.strings("events", "a REST event name such as 'AfterCreate'"):
                if name not in known:
                    where = table.where_item("events", name)
                    msg = f"{shown(name)} is no REST event; expected one of {', '.join(known)}"
                    raise where.error(msg + nearest(name, known))
                self.events.append(name)
        self.sender = table.optional_path("sender")
        self.model = table.optional_path("model")
        self.field = table.string("field", "a field name") if "field" in table else None
        self.registry = table.optional_path("registry")

    def items(self, plan: Plan) -> list[Item]:
        receiver = _Receiver(self.receiver, events=bool(self.events))
        if self.events:
            return [self._events_item(plan, receiver)]
        return [self._signal_item(path, receiver) for path in self.signals]

    def _signal_item(self, signal: ImportPath, receiver: _Receiver) -> Item:
        sender = self.sender
        key = (receiver.path.text, sender.text if sender is not None else None)

        def run(context: Context) -> list[Weaving]:
            found = signal.resolve()
            connect = getattr(found, "connect", None)
            if not callable(connect) or not callable(getattr(found, "send", None)):
                raise signal.where.error(
                    f"{signal.text} is {type(found).__name__}, not a signal "
                    "(an object with connect() and send())"
                )
            receiver.resolve_if_imported()
            proxy = _SignalReceiver(receiver, sender)
            if proxy.sender is not None:
                proxy.sender.resolve_if_imported()

            def attach() -> Callable[[], object]:
                connect(proxy, weak=False)
                return lambda: found.disconnect(proxy)

            once(context, ("connect", id(found), *key), attach, on=found)
            return []

        row = Row(signal.where, self.receiver.text, f"receives {signal.name}")
        modules = _modules(signal.module, self.receiver, sender)
        return Item(signal.where, run, modules, wait=True, rows=(row,))

    def _events_item(self, plan: Plan, receiver: _Receiver) -> Item:
        registry = self.registry
        if registry is None:
            rest = plan.sections("rest")
            registry = getattr(rest[0], "registry", None) if rest else None
        source = registry_emitted(registry)
        classes = [event_classes()[name] for name in self.events]
        model, field = self.model, self.field
        key = (receiver.path.text, tuple(self.events), model.text if model else None, field)
        where = self.table.where("events")

        def run(context: Context) -> list[Weaving]:
            found = source.find()
            subscribe = getattr(found, "subscribe", None)
            if not callable(subscribe):
                raise where.error(
                    f"the registry {found!r} has no subscribe(); name an "
                    "eventweave.rest.EventRegistry with registry = 'package.module:name'"
                )
            receiver.resolve_if_imported()
            proxy = _EventSubscriber(receiver, model, field)
            if proxy.model is not None:
                proxy.model.resolve_if_imported()
                proxy.check_model()

            def attach() -> Callable[[], object]:
                subscribe(proxy, classes)
                return lambda: found.unsubscribe(proxy)

            once(context, ("connect", id(found), *key), attach, on=found)
            return []

        row = Row(where, self.receiver.text, "receives " + ", ".join(self.events))
        modules = _modules(source.module, self.receiver, model)
        return Item(where, run, modules, wait=True, rows=(row,))


def _modules(first: str, *paths: ImportPath | None) -> tuple[str, ...]:
    """``first`` (the module applying waits for), then the others ``check`` imports."""
    return tuple(dict.fromkeys((first, *(p.module for p in paths if p is not None))))


class _Receiver:
    """A receiver named by a plan, imported once, when first needed, and held strongly."""

    def __init__(self, path: ImportPath, *, events: bool) -> None:
        self.path = path
        self.events = events
        self.function: Callable[..., Any] | None = None
        self.failed = False
        self._lock = threading.Lock()

    def resolve_if_imported(self) -> None:
        """Resolve now (raising PlanError) if the receiver's module is already imported."""
        if self.function is None and imported(self.path.module) is not None:
            self.function = self.resolve()

    def resolve(self) -> Callable[..., Any]:
        function = self.path.resolve()
        try:
            if self.events:
                _check_subscriber(function)
            else:
                _check_receiver(function)
        except (TypeError, ValueError) as exc:  # the signals layer's answers, Django's words
            raise self.path.where.error(str(exc)) from None
        return function  # type: ignore[no-any-return]

    def get(self) -> Callable[..., Any] | None:
        """The receiver, imported on first use; None (logged once) if that fails."""
        if self.function is not None or self.failed:
            return self.function
        with self._lock:
            if self.function is None and not self.failed:
                try:
                    self.function = self.resolve()
                except PlanError as exc:
                    self.failed = True
                    logger.error("%s (the receiver is not called)", exc)
        return self.function


def _check_subscriber(function: Any) -> None:
    if not callable(function):
        msg = f"{function!r} is not callable; a REST event receiver is a function taking the event"
        raise TypeError(msg)
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        msg = f"{getattr(function, '__qualname__', function)} must take one argument, the event"
        raise TypeError(msg) from None
    except ValueError:
        pass  # no signature to check against (some C callables)


class _Lazy:
    """An object named by a plan (a sender, a model), imported when first needed."""

    def __init__(self, path: ImportPath) -> None:
        self.path = path
        self.value: Any = None
        self.failed = False

    def resolve_if_imported(self) -> None:
        """Resolve now (raising PlanError) if its module is already imported."""
        if self.value is None and imported(self.path.module) is not None:
            self.value = self.path.resolve()

    def get(self) -> Any:
        if self.value is None and not self.failed:
            try:
                self.value = self.path.resolve()
            except PlanError as exc:
                self.failed = True
                logger.error("%s (the receiver is not called)", exc)
        return self.value


class _SignalReceiver:
    """What a plan connects to a signal: filters by sender, then calls the receiver."""

    def __init__(self, receiver: _Receiver, sender: ImportPath | None) -> None:
        self.receiver = receiver
        self.sender = _Lazy(sender) if sender is not None else None

    def __call__(self, *args: Any, **named: Any) -> Any:
        function = self.receiver.get()
        if function is None:
            return None
        if self.sender is not None:
            # blinker passes the sender positionally, Django and eventweave by name
            sender = args[0] if args else named.get("sender")
            expected = self.sender.get()
            if expected is None or sender is not expected:
                return None
        return function(*args, **named)

    def __repr__(self) -> str:
        return f"<plan receiver {self.receiver.path.text}>"


class _EventSubscriber:
    """What a plan subscribes to a REST registry: checks model and field, then calls."""

    def __init__(self, receiver: _Receiver, model: ImportPath | None, field: str | None) -> None:
        self.receiver = receiver
        self.model = _Lazy(model) if model is not None else None
        self.field = field
        self._predicates: list[Callable[[Any], bool]] | None = None

    def check_model(self) -> None:
        """That the model, once imported, is a class (as the registry's model predicate needs)."""
        model = self.model
        if model is not None and model.value is not None and not isinstance(model.value, type):
            msg = f"{model.path.text} is {type(model.value).__name__}, not a model class"
            raise model.path.where.error(msg)

    def predicates(self) -> list[Callable[[Any], bool]] | None:
        if self._predicates is None:
            from ..rest import FieldIsChanged, ModelClassIs

            found: list[Callable[[Any], bool]] = []
            if self.model is not None:
                model = self.model.get()
                if model is None:
                    return None
                try:
                    self.check_model()
                except PlanError as exc:
                    self.model.failed, self.model.value = True, None
                    logger.error("%s (the receiver is not called)", exc)
                    return None
                found.append(ModelClassIs(model))
            if self.field is not None:
                found.append(FieldIsChanged(self.field))
            self._predicates = found
        return self._predicates

    def __call__(self, event: Any) -> Any:
        function = self.receiver.get()
        predicates = self.predicates() if function is not None else None
        if function is None or predicates is None:
            return None
        for predicate in predicates:
            if not predicate(event):
                return None
        return function(event)

    def __repr__(self) -> str:
        return f"<plan subscriber {self.receiver.path.text}>"
