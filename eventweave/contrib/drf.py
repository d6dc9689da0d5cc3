"""Django REST framework views fire REST view events: ``DRFAdapter``.

:func:`eventweave.rest.instrument_view` detects DRF views (``APIView`` and
its subclasses, ViewSets included) and reads them through :class:`DRFAdapter`,
so they fire the Before/After events of :mod:`eventweave.rest`, through the
same registry, predicates, field processors and markers as Nefertari views:

======================  ==========================  ===============================
method                  request                     events
======================  ==========================  ===============================
``list``                GET on the list route       ``BeforeIndex``/``AfterIndex``
``retrieve``            GET on the detail route     ``BeforeShow``/``AfterShow``
``create``              POST                        ``BeforeCreate``/``AfterCreate``
``update``              PUT                         ``BeforeReplace``/``AfterReplace``
``partial_update``      PATCH                       ``BeforeUpdate``/``AfterUpdate``
``destroy``             DELETE                      ``BeforeDelete``/``AfterDelete``
``options``             OPTIONS                     ``Before/AfterItemOptions`` on a
                                                    detail route, else
                                                    ``Before/AfterCollectionOptions``
======================  ==========================  ===============================

An ``APIView`` that is no ViewSet fires the same from its own handlers:
``get`` (Show on a detail route, else Index), ``post``, ``put``, ``patch``,
``delete``. A custom ``@action`` fires only when marked
:func:`~eventweave.trigger_instead`.

The events are DRF's flavour of the standard classes (``isinstance(event,
BeforeShow)`` holds, and subscribers of ``BeforeShow`` receive them):
``event.instance`` is fetched with the view's ``get_object()`` only when
read, ``event.data`` is ``request.data`` (a form's immutable ``QueryDict``
becomes editable on the first ``set_field_value``), and an After event's
``set_field_value`` edits the response data the way DRF shapes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

try:
    from rest_framework.response import Response
    from rest_framework.viewsets import ViewSetMixin
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = (
        "eventweave.contrib.drf needs Django REST framework; install it with "
        "'pip install eventweave-aop[drf]'"
    )
    raise ImportError(msg) from exc

from django.http import HttpResponseBase
from django.utils.datastructures import MultiValueDict

from eventweave.rest._adapter import INSTANCE_SLOT, Action, instance_methods
from eventweave.rest._events import (
    AFTER_EVENTS,
    BEFORE_EVENTS,
    AfterEvent,
    AfterIndex,
    BeforeEvent,
    RequestEvent,
)

__all__ = ["DRFAdapter"]


# -- which method fires which action --------------------------------------------


def is_detail(view: Any) -> bool:
    """Whether the view handles a detail route (one object) rather than a list route.

    A router tells ViewSets (and each ``@action``) through ``view.detail``;
    otherwise a route is a detail route when its URL captured the view's
    lookup keyword (``lookup_url_kwarg``, else ``lookup_field``, else ``pk``).
    """
    detail = getattr(view, "detail", None)
    if detail is not None:
        return bool(detail)
    kwargs = getattr(view, "kwargs", None)
    if not kwargs:
        return False
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    return (lookup or "pk") in kwargs


def _get_action(view: Any) -> str:
    return "show" if is_detail(view) else "index"


def _options_action(view: Any) -> str:
    return "item_options" if is_detail(view) else "collection_options"


VIEWSET_ACTIONS: dict[str, Action] = {
    "list": "index",
    "retrieve": "show",
    "create": "create",
    "update": "replace",
    "partial_update": "update",
    "destroy": "delete",
}
"""The actions of DRF's model mixins (and of ViewSets that define them by hand)."""

HANDLER_ACTIONS: dict[str, Action] = {
    "get": _get_action,
    "post": "create",
    "put": "replace",
    "patch": "update",
    "delete": "delete",
}
"""The HTTP handlers of an ``APIView`` that is no ViewSet."""


def _delegates(handler: Any) -> bool:
    # DRF's generic views (ListCreateAPIView...) define get/post/... only to
    # call the mixin action, which is woven itself: weaving both would just
    # add a wrapper whose event the action's would shadow.
    return getattr(handler, "__module__", None) == "rest_framework.generics"


# -- request data and the object of a detail route --------------------------------

BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
"""The HTTP methods whose request body, if any, is never parsed for events.

DRF's actions and handlers for them (``list``, ``retrieve``, ``destroy``,
``options``) do not read ``request.data``: parsing a body there would let a
body DRF cannot parse turn the answer into a 400 (or 415) only while
someone listens."""


def _bodiless(request: Any) -> bool:
    # request.method is DRF's Request's own (the Django request's, or the
    # method a form overrides it with).
    return getattr(request, "method", None) in BODILESS_METHODS


class FormData(MutableMapping[str, Any]):
    """``request.data`` of a form or multipart body, as ``event.data``.

    A key sent once reads as its value, a key sent several times as the list
    of its values, so ``event.fields`` shows everything the form sent. (A
    serializer field of one value reads the last of them, as Django's
    ``QueryDict`` gives it; a list field, such as ``ListField`` or
    ``MultipleChoiceField``, reads them all.) Writing goes to
    ``request.data`` itself; Django parses forms into an immutable
    ``QueryDict``, so the first write replaces it with an editable copy that
    the request returns from then on (DRF keeps the parsed data in
    ``request._full_data`` and answers ``request.data`` from there).
    """

    __slots__ = ("_data", "_request")

    def __init__(self, request: Any, data: MultiValueDict) -> None:
        self._request = request
        self._data = data

    def __getitem__(self, name: str) -> Any:
        values = self._data.getlist(name)
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else list(values)

    def __setitem__(self, name: str, value: Any) -> None:
        data = self._writable()
        if isinstance(value, list):
            data.setlist(name, value)
        else:
            data[name] = value

    def __delitem__(self, name: str) -> None:
        del self._writable()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FormData({dict(self)!r})"

    def _writable(self) -> MultiValueDict:
        data = self._data
        if getattr(data, "_mutable", True):
            return data
        editable = data.copy()  # QueryDict.copy() is mutable
        request = self._request
        if getattr(request, "_data", None) is data:
            request._data = editable  # request.POST, for form bodies, reads this
        request._full_data = editable
        self._data = editable
        return editable


class ObjectLookup:
    """The view's ``get_object()`` for one request, shared by its events and the view.

    Installed on the view instance (which lives for one request, so nothing
    outlives it) in place of ``get_object`` while someone listens:

    - an event whose ``instance`` is read calls the real ``get_object()``
      once; when it raises (404, object permissions) the instance is None
      and the error is kept;
    - the view's own next ``get_object()`` call then gets that object (or
      that error) without a second query; later calls query as usual;
    - when the view fetched the object first, events read that one.
    """

    __slots__ = ("_error", "_fetch", "_handed", "_loaded", "_object")

    def __init__(self, fetch: Any) -> None:
        self._fetch = fetch
        self._loaded = False
        self._handed = True
        self._object: Any = None
        self._error: Exception | None = None

    def __call__(self) -> Any:
        if not self._handed:
            self._handed = True
            if self._error is not None:
                raise self._error
            return self._object
        found = self._fetch()
        self._object, self._error, self._loaded = found, None, True
        return found

    def peek(self) -> Any:
        """The object of the request, fetched now if nobody has yet; None if that raised."""
        if not self._loaded:
            try:
                self._object = self._fetch()
            except Exception as exc:  # re-raised where the view itself asks
                self._object, self._error = None, exc
            self._loaded, self._handed = True, False
        return self._object


def object_lookup(view: Any) -> ObjectLookup:
    """The :class:`ObjectLookup` of the view's request, installed on first use."""
    lookup = vars(view).get("get_object")
    if type(lookup) is not ObjectLookup:
        # DRF binds handlers on the view instance the same way (as_view's
        # setattr(self, method, handler)); the instance serves one request.
        lookup = ObjectLookup(view.get_object)
        view.get_object = lookup
    return lookup


# -- DRF's flavour of the events --------------------------------------------------


def _instance(event: RequestEvent) -> Any:
    """The object of a detail route, fetched with the view's ``get_object()`` when read.

    Read it and the view's own ``get_object()`` call reuses the object, so no
    second query is made; a lookup that fails (404, object permissions) reads
    as None, and the view answers as DRF would.
    """
    value = INSTANCE_SLOT.__get__(event, type(event))
    if type(value) is ObjectLookup:
        return value.peek()
    return value


class _LazyInstance(RequestEvent):
    __slots__ = ()

    # Stored straight into the slot: the setter runs for every event made,
    # and the slot's own __set__ adds no Python frame.
    instance = property(_instance, INSTANCE_SLOT.__set__, doc=_instance.__doc__)


class DRFBeforeEvent(_LazyInstance, BeforeEvent):
    """A Before event around a DRF view action."""

    __slots__ = ()

    def set_field_value(self, name: str, value: Any) -> None:
        """Set a field in ``request.data``, as the view's serializer will read it.

        A form body's immutable ``QueryDict`` is replaced by an editable copy
        on the first call; a list value sets every value of a repeated key.

        :param name: the field name.
        :param value: the value the view will see.
        """
        if self.data is None:
            request = getattr(self.view, "request", None)
            head = f"{type(self).__name__}.set_field_value({name!r}, ...): "
            if request is None or _bodiless(request):
                method = getattr(request, "method", "this")
                msg = (
                    f"{head}a {method} request has no data for the view to read; set "
                    "fields in the events of requests that send them "
                    "(BeforeCreate, BeforeUpdate, BeforeReplace)"
                )
            else:
                kind = type(getattr(request, "data", None)).__name__
                msg = f"{head}request.data is {kind}, not an object of fields: no field to set"
            raise TypeError(msg)
        super().set_field_value(name, value)


def _response_items(event: AfterEvent) -> list[Any]:
    response = event.response
    if isinstance(response, list):
        return response
    if not isinstance(response, MutableMapping):
        return []
    if isinstance(event, AfterIndex):
        page = response.get("results")
        if isinstance(page, list):  # a paginated list: count, next, previous, results
            return page
    return [response]


class DRFAfterEvent(_LazyInstance, AfterEvent):
    """An After event around a DRF view action; ``response`` is the response's data."""

    __slots__ = ()

    def set_field_value(self, name: str, value: Any) -> None:
        """Set a field in the response data, before DRF renders it.

        The data of a detail response is the object itself; a list response
        has the field set in every object, and so does a paginated one
        (``{"count": ..., "results": [...]}``) in every object of its page.
        Anything else (no data, a plain ``HttpResponse``) is left alone.

        :param name: the field name.
        :param value: the value to put in the response.
        """
        for item in _response_items(self):
            if isinstance(item, MutableMapping):
                item[name] = value


class DRFEvents:
    """Where DRF's flavours of the event classes live, each under its standard name.

    ``DRFEvents.BeforeShow`` is the class of the events a ``retrieve``
    fires; its import path, ``eventweave.contrib.drf:DRFEvents.BeforeShow``,
    resolves, so pickle and anything naming events by their path (the
    relay, traces) find it. Kept apart from the module's own names, where
    ``BeforeShow`` would hide the standard class.
    """

    __slots__ = ()


def _flavour(standard: type[RequestEvent], base: type[RequestEvent]) -> type[RequestEvent]:
    # Named as the standard class: what subscribers, logs and traces know it by.
    name = standard.__name__
    flavour = type(
        name,
        (base, standard),
        {
            "__slots__": (),
            "__module__": __name__,
            "__qualname__": f"{DRFEvents.__qualname__}.{name}",
            "__doc__": f"{standard.__doc__} DRF's flavour of {name}.",
        },
    )
    setattr(DRFEvents, name, flavour)
    return flavour


BEFORE_EVENTS_DRF: dict[str, type[BeforeEvent]] = {
    action: _flavour(event, DRFBeforeEvent)  # type: ignore[misc]
    for action, event in BEFORE_EVENTS.items()
}
"""Action name -> DRF's flavour of its Before event (a subclass of the standard one)."""

AFTER_EVENTS_DRF: dict[str, type[AfterEvent]] = {
    action: _flavour(event, DRFAfterEvent)  # type: ignore[misc]
    for action, event in AFTER_EVENTS.items()
}
"""Action name -> DRF's flavour of its After event (a subclass of the standard one)."""


# -- the adapter ------------------------------------------------------------------


class DRFAdapter:
    """Reads Django REST framework views for :func:`~eventweave.rest.instrument_view`.

    :func:`~eventweave.rest.instrument_view` uses it for every DRF view by
    itself; pass ``adapter=DRFAdapter()`` to say so explicitly, or subclass
    it to read a view differently.

    - model: the view's ``queryset.model``, else ``get_queryset()``'s, else
      the serializer's ``Meta.model``;
    - data: ``request.data`` (JSON, form or multipart), parsed as DRF parses
      it for the view;
    - instance: on a detail route of a view with ``get_object()``, the object
      it returns, fetched only if a subscriber reads ``event.instance``;
    - request: ``view.request``, the DRF ``Request``.
    """

    __slots__ = ()

    before_events = BEFORE_EVENTS_DRF
    after_events = AFTER_EVENTS_DRF

    def actions(self, cls: type) -> dict[str, Action]:
        """The methods of a DRF view class that fire events, and the action of each.

        :param cls: the view class.
        """
        methods = instance_methods(cls)
        table = dict(VIEWSET_ACTIONS)
        if not issubclass(cls, ViewSetMixin):
            # A ViewSet binds its actions to the HTTP methods per request
            # (as_view's action map); its class has no handlers to weave.
            for name, action in HANDLER_ACTIONS.items():
                if name in methods and not _delegates(methods[name]):
                    table[name] = action
        table["options"] = _options_action
        return {name: action for name, action in table.items() if name in methods}

    def model(self, view: Any) -> Any:
        """The model the view serves: its queryset's, else its serializer's ``Meta.model``."""
        model = getattr(getattr(view, "queryset", None), "model", None)
        if model is None:
            try:
                model = getattr(view.get_queryset(), "model", None)
            except Exception:  # no queryset at all (DRF asserts): try the serializer
                model = None
        if model is None:
            serializer = getattr(view, "serializer_class", None)
            if serializer is None:
                try:
                    serializer = view.get_serializer_class()
                except Exception:  # no serializer either: a view without a model
                    serializer = None
            model = getattr(getattr(serializer, "Meta", None), "model", None)
        return model if isinstance(model, type) else None

    def data(self, view: Any) -> Mapping[str, Any] | None:
        """``request.data`` when it is an object of fields (a JSON object, a form), else None.

        For a POST, PUT or PATCH, DRF parses the body here, as the action
        would: a body it cannot parse gets DRF's 400 (or 415) answer, and no
        event fires. The body of a GET, HEAD, OPTIONS or DELETE request is
        never parsed (their actions do not read it): their events have no
        fields, and a body DRF could not parse is left for the view to
        answer as it would without events.
        """
        request = getattr(view, "request", None)
        if request is None or _bodiless(request):
            return None
        data = getattr(request, "data", None)
        if isinstance(data, MultiValueDict):
            return FormData(request, data)
        return data if isinstance(data, Mapping) else None

    def instance(self, view: Any) -> Any:
        """On a detail route, the view's object, fetched when an event's ``instance`` is read."""
        if is_detail(view) and callable(getattr(view, "get_object", None)):
            return object_lookup(view)
        return None

    def request(self, view: Any) -> Any:
        """``view.request``, or None."""
        return getattr(view, "request", None)

    def response_of(self, result: Any) -> Any:
        """What After events carry as ``response``: a DRF ``Response``'s data, else the result."""
        return result.data if isinstance(result, Response) else result

    def return_value(self, result: Any, response: Any) -> Any:
        """What the action returns: its ``Response`` with the data After subscribers left.

        A subscriber that set ``event.response`` to a whole response (any
        Django ``HttpResponse``) has it returned instead.
        """
        if isinstance(result, Response) and not isinstance(response, HttpResponseBase):
            if response is not result.data:
                result.data = response
            return result
        return response

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
