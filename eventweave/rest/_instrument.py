"""Firing REST view events around view actions: ``instrument_view`` and its advice.

Each action method of a view class is woven (through the engine, never
patched by hand) with a :class:`ViewEvents` advice. Which methods, and which
action each fires, the view's adapter says (``adapter_for`` picks it from the
class when none is given). Its hook, per call:

1. gives up at once when muted, silenced, not an action, or nobody listens;
2. builds the Before event from the view through the adapter and notifies
   it (a subscriber that raises vetoes the method);
3. after the method returned (awaited, for ``async def``), notifies the
   After event with the result as ``response`` and returns
   ``event.response``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar, overload

from eventweave._advice import is_muted, is_silent, triggered_action
from eventweave._weaving import (
    Advice,
    Hook,
    Site,
    WeaveError,
    Weaving,
    weave,
)
from eventweave._weaving._codegen import Inline

from ._adapter import (
    DEFAULT_ADAPTER,
    INSTANCE_SLOT,
    Action,
    NefertariAdapter,
    ViewAdapter,
    actions_of,
    adapter_for,
    check_adapter,
    instance_methods,
)
from ._events import (
    ACTIONS,
    AFTER_EVENTS,
    BEFORE_EVENTS,
    FieldData,
    build_fields,
)
from ._registry import EventRegistry

__all__ = [
    "DEFAULT_ADAPTER",
    "PYRAMID_REGISTRY_KEY",
    "NefertariAdapter",
    "ViewEvents",
    "ViewWeavings",
    "default_registry",
    "instrument_view",
]

logger = logging.getLogger("eventweave")

C = TypeVar("C", bound=type)

default_registry = EventRegistry()
"""Where events go when ``instrument_view`` was given no registry and the
request has no Pyramid registry set up by ``eventweave.contrib.pyramid``.
Published as ``eventweave.rest.registry``."""


class _PyramidApps:
    """Gate input: ``receivers`` turns truthy once a Pyramid application includes
    ``eventweave.contrib.pyramid``. Subscribers in a Pyramid registry cannot be
    counted cheaply, so from then on views without ``registry=`` always build
    their events; before that, they cost nothing while ``default_registry`` has
    no subscribers. Announces that one change to woven views (see
    ``EventRegistry.__eventweave_watch__``)."""

    receivers: tuple[Any, ...] = ()

    def __init__(self) -> None:
        self._watchers: list[Callable[[], None]] = []

    def include(self) -> None:
        """A Pyramid application included ``eventweave.contrib.pyramid``."""
        if not self.receivers:
            self.receivers = (True,)
            for watcher in list(self._watchers):
                watcher()

    def __eventweave_watch__(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None


pyramid_apps = _PyramidApps()

PYRAMID_REGISTRY_KEY = "eventweave.rest"
"""Key ``eventweave.contrib.pyramid`` sets in a Pyramid registry: requests of
that application notify their events through ``request.registry``."""

# Keys (view, registry notified) of the action calls running in this thread or
# task: a view method calling another instrumented method of the same view
# (``super().update()``, ``replace`` delegating to ``update``) fires nothing
# more, as in Nefertari, where only the action the request was routed to
# fires. Keyed on where the events go, not on the advice: a view instrumented
# twice for one registry (with and without ``adapter=``, say) still gives
# that registry one pair per request; two registries each get theirs.
_active: contextvars.ContextVar[frozenset[tuple[int, int]]] = contextvars.ContextVar(
    "eventweave_rest_active", default=frozenset()
)


def _unknown_action(where: str, action: object) -> ValueError:
    msg = (
        f"{where}: trigger_instead({action!r}) names no REST action; "
        f"expected one of {', '.join(sorted(ACTIONS))}"
    )
    return ValueError(msg)


class ViewEvents(Advice):
    """The advice woven onto view action methods: Before and After events around each call.

    Equal (same registry, adapter and ``robust``) advices are one weaving,
    so instrumenting a view twice changes nothing.

    :param registry: an :class:`~eventweave.rest.EventRegistry`, any object
        with ``notify(event)`` (a Pyramid registry), or None for the request's
        Pyramid registry when ``eventweave.contrib.pyramid`` is included, else
        :data:`eventweave.rest.registry`.
    :param adapter: reads model, data, instance and request from a view;
        None for the adapter :func:`~eventweave.rest._adapter.adapter_for`
        picks from each view class (DRF's, else Nefertari's).
    :param robust: log exceptions of After subscribers instead of raising them.
    """

    def __init__(
        self, registry: Any = None, adapter: ViewAdapter | None = None, robust: bool = False
    ) -> None:
        if registry is not None and not callable(getattr(registry, "notify", None)):
            msg = (
                f"registry: expected an eventweave.rest.EventRegistry (or an object with "
                f"notify(event), such as a Pyramid registry), got {registry!r}"
            )
            raise TypeError(msg)
        if adapter is not None:
            check_adapter(adapter)
        self.registry = registry
        self.adapter = adapter
        self.robust = bool(robust)
        # Identity of the objects, not their equality: two registries that
        # compare equal are still two audiences.
        self._key = (id(registry), id(adapter), self.robust)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ViewEvents) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        parts = []
        if self.registry is not None:
            parts.append(f"registry={self.registry!r}")
        if self.adapter is not None:
            parts.append(f"adapter={self.adapter!r}")
        if self.robust:
            parts.append("robust=True")
        return f"ViewEvents({', '.join(parts)})"

    def bind(self, site: Site) -> Hook:
        return _ViewHook(self, site)


def _listening(registry: Any) -> bool:
    if isinstance(registry, EventRegistry):
        return bool(registry.receivers)
    # Pyramid's registry sets has_listeners once any subscriber is added.
    return bool(getattr(registry, "has_listeners", True))


def _request_registry(request: Any) -> Any:
    registry = getattr(request, "registry", None)
    if registry is None:
        return None
    lookup = getattr(registry, "get", None)
    if lookup is None:
        return None
    try:
        routed = lookup(PYRAMID_REGISTRY_KEY)
    except Exception:  # a foreign registry whose get() takes other arguments
        return None
    return registry if routed else None


def _synced(
    fields: dict[str, FieldData], data: Mapping[str, Any], model: Any
) -> dict[str, FieldData]:
    """``fields`` brought in line with ``data`` as Before subscribers left it.

    set_field_value keeps both in step already; this catches subscribers
    that edited the view's data directly (Nefertari documents changing
    ``view._json_params``), so After events see what the view used.
    """
    synced: dict[str, FieldData] = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            synced.update(build_fields({name: value}, model))
        else:
            field.new_value = value
            synced[name] = field
    return synced


def _leave(key: tuple[int, int]) -> None:
    # Only this call's own key goes: several weavings of one method (one per
    # registry) leave in weave order, not innermost first, so restoring what
    # was active on entry would undo, or bring back, another weaving's key.
    _active.set(_active.get() - {key})


class _State:
    __slots__ = ("action", "data", "fields", "instance", "key", "model", "notify", "view")

    def __init__(
        self,
        key: tuple[int, int],
        notify: Callable[[Any], object],
        action: str,
        model: Any,
        view: Any,
        fields: dict[str, FieldData],
        instance: Any,
        data: MutableMapping[str, Any] | None,
    ) -> None:
        self.key = key
        self.notify = notify
        self.action = action
        self.model = model
        self.view = view
        self.fields = fields
        self.instance = instance
        self.data = data


class _ViewHook(Hook):
    """:class:`ViewEvents` bound to one view method."""

    def __init__(self, advice: ViewEvents, site: Site) -> None:
        self._advice = advice
        self._site = site
        self._function = site.function
        # A Python function keeps its markers in __dict__: while that is
        # empty, no marker needs looking up on the call path.
        self._marks = getattr(site.function, "__dict__", None)
        owner = site.owner if isinstance(site.owner, type) else type(site.owner)
        adapter = advice.adapter if advice.adapter is not None else adapter_for(owner)
        self._own: Action | None = actions_of(adapter, owner).get(site.name)
        self._before_events: Mapping[str, Any] = getattr(adapter, "before_events", BEFORE_EVENTS)
        self._after_events: Mapping[str, Any] = getattr(adapter, "after_events", AFTER_EVENTS)
        self._response_of: Callable[[Any], Any] | None = getattr(adapter, "response_of", None)
        self._return_value: Callable[[Any, Any], Any] | None = getattr(
            adapter, "return_value", None
        )
        self._registry = advice.registry
        self._adapter = adapter
        self._robust = advice.robust
        if advice.registry is None:
            self._gate: tuple[Any, ...] | None = (default_registry, pyramid_apps)
        elif isinstance(advice.registry, EventRegistry):
            self._gate = (advice.registry,)
        else:
            self._gate = None

    @property
    def gate(self) -> tuple[Any, ...] | None:
        return self._gate

    def _action(self, view: Any) -> str | None:
        marks = self._marks
        if marks is None or marks:
            instead = triggered_action(self._function)
            if instead is not None:
                if instead not in BEFORE_EVENTS:
                    raise _unknown_action(self._site.target, instead)
                return instead
        own = self._own
        if own is None or isinstance(own, str):
            return own
        return own(view)

    def _silenced(self, view: Any) -> bool:
        marks = self._marks
        if (marks is None or marks) and is_silent(self._function):
            return True
        return is_silent(type(view))

    def _audience(self, view: Any) -> Any:
        """The registry this call notifies, or None while it has no subscriber."""
        registry = self._registry
        if registry is None:
            # Only requests of an application that included
            # eventweave.contrib.pyramid carry a registry of their own.
            routed = pyramid_apps.receivers and _request_registry(self._adapter.request(view))
            registry = routed or default_registry
        return registry if _listening(registry) else None

    def inline(self, ctx: Inline) -> tuple[dict[str, Any], list[str]] | None:
        """The listening form for a view method: it hands the hook the view alone.

        What the events hold is read from the view (its request, model and
        object), never from the call's arguments, so no tuple or dict of
        them is built per request.
        """
        if ctx.kind != "sync" or ctx.weak or ctx.self_expr == "None":
            return None
        return ctx.around(self, ctx.self_expr)

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        return self.begin(self_)

    def begin(self, self_: Any) -> Any:
        """Notify the Before event of a call on the view ``self_``; the state for ``after``."""
        if self_ is None or is_muted():
            return None
        # Cheapest test first: with nobody listening, nothing else matters.
        audience = self._audience(self_)
        if audience is None:
            return None
        marks, own = self._marks, self._own
        if marks is not None and not marks and (own is None or isinstance(own, str)):
            action = own  # no marker on the method, a fixed action: the common case
        else:
            action = self._action(self_)
        if action is None or self._silenced(self_):
            return None
        key = (id(self_), id(audience))
        previous = _active.get()
        if key in previous:
            return None
        adapter = self._adapter
        model = adapter.model(self_)
        data = adapter.data(self_)
        if data is None:  # a GET, most often: no ABC checks for it
            fields: dict[str, FieldData] = {}
            editable = None
        else:
            fields = build_fields(data, model)
            editable = data if isinstance(data, MutableMapping) else None
        event = self._before_events[action](
            model, self_, fields, instance=adapter.instance(self_), data=editable
        )
        _active.set(previous | {key})
        notify = audience.notify
        try:
            notify(event)
        except BaseException:
            _leave(key)
            raise
        used = event.data
        fields = _synced(event.fields, used, model) if used is not None else dict(event.fields)
        instance = INSTANCE_SLOT.__get__(event, type(event))  # not loaded: see INSTANCE_SLOT
        return _State(key, notify, action, model, self_, fields, instance, used)

    def after(self, state: Any, result: Any) -> Any:
        if state is None:
            return result
        _leave(state.key)
        response_of = self._response_of
        event = self._after_events[state.action](
            state.model,
            state.view,
            state.fields,
            instance=state.instance,
            response=result if response_of is None else response_of(result),
            data=state.data,
        )
        try:
            state.notify(event)
        except Exception:
            if not self._robust:
                raise
            logger.exception(
                "a subscriber of %s raised after %s (ignored: robust=True); "
                "the response is returned as the subscribers before it left it",
                type(event).__name__,
                self._site.target,
            )
        return_value = self._return_value
        if return_value is None:
            return event.response
        return return_value(result, event.response)

    def error(self, state: Any, exception: BaseException) -> None:
        if state is not None:
            _leave(state.key)


# -- instrument_view ----------------------------------------------------------


class ViewClassEvents(ViewEvents):
    """:class:`ViewEvents` woven on a whole view class named by a target string.

    The engine weaves the methods :meth:`expand` names once the class exists,
    each with this same advice; the view is one weaving in ``woven()``.
    """

    def expand(self, target: str, cls: type) -> list[str]:
        """The methods of ``cls`` to weave: its actions and ``trigger_instead`` methods."""
        return _methods_to_weave(target, cls, self.adapter)


class ViewWeavings(Sequence[Weaving]):
    """What ``instrument_view("pkg.mod:ViewClass")`` made: one weaving per woven method.

    Empty until the view's module is imported (filled at once if it already
    is). The view itself is one :class:`~eventweave.Weaving` in
    :func:`eventweave.woven`, pending until then, and
    :func:`eventweave.unweave_all` removes it like any other.

    :ivar target: the target string given.
    :ivar weaving: the weaving of the view class.
    """

    def __init__(self, weaving: Weaving) -> None:
        self.weaving = weaving
        self.target = weaving.target

    @property
    def error(self) -> Exception | None:
        """Why instrumenting failed when the module was imported (no such class,
        no action), else None."""
        return self.weaving.error

    @property
    def pending(self) -> bool:
        """True while the view's module has not been imported yet."""
        return self.weaving.pending

    def unweave(self) -> None:
        """Unweave every method; if the module is not imported yet, never weave it."""
        self.weaving.unweave()

    @overload
    def __getitem__(self, index: int) -> Weaving: ...

    @overload
    def __getitem__(self, index: slice) -> list[Weaving]: ...

    def __getitem__(self, index: int | slice) -> Weaving | list[Weaving]:
        return self.weaving.parts[index]

    def __len__(self) -> int:
        return len(self.weaving.parts)

    def __repr__(self) -> str:
        state = "pending" if self.pending else f"{len(self)} methods"
        if self.error is not None:
            state = f"failed: {self.error}"
        return f"<ViewWeavings {self.target!r} ({state})>"


def _methods_to_weave(target: str, cls: type, adapter: ViewAdapter | None) -> list[str]:
    if adapter is None:
        adapter = adapter_for(cls)
    actions = actions_of(adapter, cls)
    names = dict.fromkeys(actions)
    for name, value in instance_methods(cls).items():
        instead = triggered_action(value)
        if instead is None:
            continue
        if instead not in BEFORE_EVENTS:
            raise _unknown_action(f"{target}.{name}", instead)
        names[name] = None
    if not names:
        known = (
            f"the view actions ({', '.join(ACTIONS)})"
            if adapter is DEFAULT_ADAPTER
            else f"the action methods {adapter!r} knows"
        )
        msg = (
            f"{cls.__qualname__} defines none of {known} and no method marked "
            "trigger_instead; nothing to instrument"
        )
        raise WeaveError(target, msg)
    return list(names)


@overload
def instrument_view(
    view_cls_or_target: C,
    *,
    registry: Any = ...,
    adapter: ViewAdapter | None = ...,
    robust: bool = ...,
) -> C: ...


@overload
def instrument_view(
    view_cls_or_target: str,
    *,
    registry: Any = ...,
    adapter: ViewAdapter | None = ...,
    robust: bool = ...,
) -> ViewWeavings: ...


@overload
def instrument_view(
    view_cls_or_target: None = ...,
    *,
    registry: Any = ...,
    adapter: ViewAdapter | None = ...,
    robust: bool = ...,
) -> Callable[[C], C]: ...


def instrument_view(
    view_cls_or_target: Any = None,
    *,
    registry: Any = None,
    adapter: ViewAdapter | None = None,
    robust: bool = False,
) -> Any:
    """Fire REST view events around the actions of a view class.

    Each action method the class has (its own or inherited: ``index``,
    ``show``, ``create``, ``update``, ``replace``, ``delete``,
    ``update_many``, ``delete_many``, ``item_options``,
    ``collection_options``, ``login``, ``logout``, ``register``) and each
    method marked :func:`~eventweave.trigger_instead` is woven so that a call

    - notifies the Before event of its action (``BeforeIndex`` for
      ``index``; for a method marked ``trigger_instead("update")``,
      ``BeforeUpdate``), built from the view through the adapter: ``model``,
      ``view``, ``fields`` (from the request data), ``instance``. A
      subscriber that raises stops the call: the exception propagates and
      the method does not run.
    - runs the method (and awaits it, for ``async def``), then notifies the
      After event with the fields as the method used them and the result as
      ``response``, and returns ``event.response``, so subscribers may edit
      or replace it. An exception from an After subscriber propagates unless
      ``robust=True``, where it is logged and the response returned.

    Nothing is fired, and the method returns its result untouched, for a
    class (or subclass of a class) or method marked
    :func:`~eventweave.silent`, inside :func:`~eventweave.muted`, when
    nobody listens, and for an instrumented method called from another one
    on the same view (``super().update()``), or woven again for the same
    registry (with another ``adapter=``): one request, one event pair per
    registry.
    Markers are read per call, so ``eventweave.mark()`` applies at once.

    Django REST framework views (subclasses of ``APIView``, ViewSets
    included) are detected and read through
    ``eventweave.contrib.drf.DRFAdapter``: ``list`` fires Index,
    ``retrieve`` Show, ``create`` Create, ``update`` Replace,
    ``partial_update`` Update, ``destroy`` Delete, OPTIONS ItemOptions or
    CollectionOptions; DRF is never imported for other views.

    Used three ways::

        @instrument_view
        class UsersView(BaseView): ...

        @instrument_view(robust=True)
        class ItemsView(BaseView): ...

        instrument_view("myapi.views:UsersView")  # legacy code, unchanged

    :param view_cls_or_target: the view class, or a target string
        ``"package.module:ViewClass"`` for code you cannot edit, woven when
        that module is imported (at once if it already is).
    :param registry: where events are notified: an
        :class:`~eventweave.rest.EventRegistry` or any object with
        ``notify(event)`` such as a Pyramid registry. None: the request's
        Pyramid registry when the application included
        ``eventweave.contrib.pyramid``, else :data:`eventweave.rest.registry`.
    :param adapter: reads model, request data, instance and request from a
        view (see :class:`~eventweave.rest.ViewAdapter`); None to pick one
        from the class: ``eventweave.contrib.drf.DRFAdapter`` for a DRF view,
        else Nefertari's conventions (:class:`~eventweave.rest.NefertariAdapter`).
    :param robust: log exceptions raised by After subscribers instead of
        propagating them.
    :returns: the class itself for a class (so it works as a decorator); for
        a target string, a :class:`ViewWeavings` list of the weavings made,
        filled when the module is imported.
    :raises WeaveError: the class defines no action, or (for a target whose
        module is already imported) the target does not exist.
    :raises ValueError: a method is marked ``trigger_instead`` with a name
        that is no REST action.
    """
    advice = ViewEvents(registry, adapter, robust)
    if view_cls_or_target is None:

        def decorate(cls: C) -> C:
            return _instrument_class(cls, advice)

        return decorate
    if isinstance(view_cls_or_target, str):
        # One weaving of the class: the engine weaves the methods expand()
        # names once the module is imported, and lists the view as pending till then.
        whole = ViewClassEvents(advice.registry, advice.adapter, advice.robust)
        return ViewWeavings(weave(view_cls_or_target, whole))
    if isinstance(view_cls_or_target, type):
        return _instrument_class(view_cls_or_target, advice)
    msg = (
        "instrument_view() takes a view class or a target string 'package.module:ViewClass', "
        f"got {view_cls_or_target!r}"
    )
    raise TypeError(msg)


def _instrument_class(cls: C, advice: ViewEvents) -> C:
    # Checked first, so an error leaves no method half instrumented.
    names = _methods_to_weave(f"{cls.__module__}:{cls.__qualname__}", cls, advice.adapter)
    for name in names:
        weave((cls, name), advice)
    return cls
