"""How instrumented views are read: the adapter protocol, Nefertari's conventions, detection.

:func:`~eventweave.rest.instrument_view` never assumes a framework. Everything
it needs from a view instance to build an event goes through an adapter, so
views that keep their model, request data or current object elsewhere are
instrumented by passing ``adapter=`` instead of being rewritten. Without
``adapter=``, :func:`adapter_for` picks one from the view class: Django REST
framework views get ``eventweave.contrib.drf.DRFAdapter``, others Nefertari's.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from ._events import BEFORE_EVENTS, RequestEvent

__all__ = [
    "DEFAULT_ADAPTER",
    "FRAMEWORK_ADAPTERS",
    "INSTANCE_SLOT",
    "Action",
    "NefertariAdapter",
    "ViewAdapter",
    "actions_of",
    "adapter_for",
    "check_adapter",
    "instance_methods",
    "nefertari_actions",
]

INSTANCE_SLOT: Any = vars(RequestEvent)["instance"]
"""The slot behind ``RequestEvent.instance``, for adapters' event classes that load the
instance on attribute access (DRF's ``get_object()``): they store there, and the
hook carries a Before event's instance over to its After event through it,
without loading it."""

Action = str | Callable[[Any], str]
"""What a woven method fires: an action name (``"show"``), or a function of the
view instance choosing it per request (DRF's ``options``: item or collection)."""


@runtime_checkable
class ViewAdapter(Protocol):
    """What :func:`~eventweave.rest.instrument_view` reads from a view instance.

    Each method takes the view instance handling the request (``self`` of the
    woven method) and is called once per event pair, only while someone
    listens. Implement all four; subclassing :class:`NefertariAdapter` and
    overriding what differs is the short way.

    Adapters for frameworks whose views differ more than in where they keep
    things (``eventweave.contrib.drf.DRFAdapter``) may also define, each read
    once when a view is instrumented:

    - ``actions(cls)``: which methods of the view class fire which action, as
      ``{method name: action}`` where an action is an action name or a
      function of the view instance returning one (default: the methods
      named like an action, :func:`nefertari_actions`);
    - ``before_events`` and ``after_events``: ``{action: event class}``
      tables of subclasses of the standard events, for requests and
      responses shaped differently (default: ``BEFORE_EVENTS`` and
      ``AFTER_EVENTS``);
    - ``response_of(result)``: what After events carry as ``response`` for
      what the method returned (default: the result itself);
    - ``return_value(result, response)``: what the method returns once After
      subscribers have run (default: ``event.response``).
    """

    def model(self, view: Any) -> Any:
        """The model class the request is about (``event.model``), or None."""

    def data(self, view: Any) -> Mapping[str, Any] | None:
        """The request data the view reads, as a mapping, or None when there is none.

        ``event.fields`` is built from it. Return the very mutable mapping the
        view reads (not a copy) so that ``set_field_value`` in before events
        changes what the view uses; a read-only mapping gives fields but makes
        ``set_field_value`` raise ``TypeError`` in before events.
        """

    def instance(self, view: Any) -> Any:
        """The object an item request is about (``event.instance``), or None."""

    def request(self, view: Any) -> Any:
        """The request being handled, or None; its ``registry`` may receive the events."""


class NefertariAdapter:
    """The default adapter: reads views shaped like Nefertari's ``BaseView``.

    - model: the view's ``Model`` attribute;
    - data: ``view._json_params``, the dict the view reads its JSON body
      from; when the view has none, the request's decoded JSON body
      (``request.json_body``), read-only;
    - instance: ``view.context`` when it is an instance of the model (or
      carries Nefertari's ``pk_field``), as set by a Pyramid resource factory
      or traversal; otherwise None;
    - request: ``view.request``.
    """

    __slots__ = ()

    def model(self, view: Any) -> Any:
        """``view.Model``, or None."""
        return getattr(view, "Model", None)

    def data(self, view: Any) -> Mapping[str, Any] | None:
        """``view._json_params``, else the request's JSON body (read-only), else None."""
        data = getattr(view, "_json_params", None)
        if isinstance(data, Mapping):
            return data
        body = _json_body(self.request(view))
        # Read-only on purpose: the view re-reads the body itself, so an edit
        # to this copy would be silently lost.
        return MappingProxyType(body) if isinstance(body, dict) else None

    def instance(self, view: Any) -> Any:
        """``view.context`` when it is an item of the view's model, else None."""
        context = getattr(view, "context", None)
        if context is None:
            return None
        model = self.model(view)
        if isinstance(model, type) and isinstance(context, model):
            return context
        # Nefertari's database engines mark their documents with pk_field.
        return context if hasattr(context, "pk_field") else None

    def request(self, view: Any) -> Any:
        """``view.request``, or None."""
        return getattr(view, "request", None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _json_body(request: Any) -> Any:
    if request is None or not getattr(request, "body", None):
        return None
    try:
        return request.json_body
    except (AttributeError, ValueError, UnicodeDecodeError):
        # No JSON body (a form post, malformed JSON): no fields, not an error
        # of the instrumentation; the view answers the request as it would.
        return None


DEFAULT_ADAPTER = NefertariAdapter()
"""The adapter of views that come from no framework :data:`FRAMEWORK_ADAPTERS` names."""

FRAMEWORK_ADAPTERS: tuple[tuple[str, str], ...] = (
    ("rest_framework.views:APIView", "eventweave.contrib.drf:DRFAdapter"),
)
"""``(base view class, its adapter)`` pairs, by import path, that :func:`adapter_for` tries.

By path on purpose: a base class is looked at only when its module is already
imported (a view class deriving from it implies it is), and the adapter's
module is imported only for such a view, so nothing here imports a framework,
or the contrib layer, for a view that does not come from it."""


def adapter_for(cls: type) -> ViewAdapter:
    """The adapter for a view class given no ``adapter=``: its framework's, else Nefertari's.

    :param cls: the view class being instrumented.
    """
    for base_path, adapter_path in FRAMEWORK_ADAPTERS:
        module_name, _, name = base_path.partition(":")
        base = getattr(sys.modules.get(module_name), name, None)
        if isinstance(base, type) and issubclass(cls, base):
            return _framework_adapter(adapter_path)
    return DEFAULT_ADAPTER


# One instance per framework, whichever thread asks first: views instrumented
# with and without adapter= then compare as one weaving.
_framework_adapters: dict[str, ViewAdapter] = {}


def _framework_adapter(path: str) -> ViewAdapter:
    adapter = _framework_adapters.get(path)
    if adapter is None:
        module_name, _, name = path.partition(":")
        built: ViewAdapter = getattr(importlib.import_module(module_name), name)()
        adapter = _framework_adapters.setdefault(path, built)  # atomic: the first one stays
    return adapter


def instance_methods(cls: type) -> dict[str, Any]:
    """The instance methods of ``cls`` and its bases, each as defined lowest in the MRO.

    Values are the raw ``vars(klass)`` entries (functions, not bound methods);
    classmethods, staticmethods, properties, nested classes and non-callables
    are left out: view actions are instance methods.
    """
    found: dict[str, Any] = {}
    seen: set[str] = set()
    for klass in cls.__mro__[:-1]:  # object has no actions
        for name, value in vars(klass).items():
            if name in seen:
                continue  # overridden lower in the MRO: that definition decides
            seen.add(name)
            if isinstance(value, (classmethod, staticmethod, property, type)):
                continue
            if callable(value):
                found[name] = value
    return found


def nefertari_actions(cls: type) -> dict[str, Action]:
    """The methods of ``cls`` named like an action (``index``, ``show``…), each firing its own."""
    methods = instance_methods(cls)
    return {name: name for name in BEFORE_EVENTS if name in methods}


def actions_of(adapter: Any, cls: type) -> dict[str, Action]:
    """``adapter.actions(cls)`` when the adapter defines it, else :func:`nefertari_actions`."""
    actions = getattr(adapter, "actions", None)
    if actions is None:
        return nefertari_actions(cls)
    return dict(actions(cls))


def check_adapter(adapter: object) -> None:
    """Raise ``TypeError`` naming what ``adapter`` lacks to be a :class:`ViewAdapter`."""
    missing = [
        name
        for name in ("model", "data", "instance", "request")
        if not callable(getattr(adapter, name, None))
    ]
    if missing:
        msg = (
            f"adapter: {adapter!r} lacks {', '.join(missing)}; an adapter has the methods "
            "model(view), data(view), instance(view) and request(view) "
            "(subclass eventweave.rest.NefertariAdapter and override what differs)"
        )
        raise TypeError(msg)
