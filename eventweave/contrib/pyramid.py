"""Pyramid integration for REST view events: ``config.include("eventweave.contrib.pyramid")``.

Including this module adds, as in Nefertari:

- the directives ``config.subscribe_to_events(subscriber, events, model=None)``
  and ``config.add_field_processors(processors, model, field)``;
- the subscriber predicates ``model`` (:class:`~eventweave.rest.ModelClassIs`)
  and ``field`` (:class:`~eventweave.rest.FieldIsChanged`), usable with
  ``config.add_subscriber(subscriber, BeforeCreate, model=User, field="name")``;
- routing: views instrumented with :func:`~eventweave.rest.instrument_view`
  and no ``registry=`` notify their events through ``request.registry`` for
  requests of this application (instead of :data:`eventweave.rest.registry`).

Events then travel through Pyramid's own registry (``registry.notify``), with
predicates honoured. Subscribers of one event class run in the order they were
added; Pyramid calls those of a more general class (``RequestEvent``,
``BeforeEvent``) before those of the concrete class, where
:class:`~eventweave.rest.EventRegistry` keeps strict subscription order.
"""

from __future__ import annotations

from typing import Any

try:
    import pyramid.config  # noqa: F401  (fail here, with the fix, not deep in a directive)
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    msg = (
        "eventweave.contrib.pyramid needs Pyramid; install it with "
        "'pip install eventweave-aop[pyramid]'"
    )
    raise ImportError(msg) from exc

from eventweave.rest._events import RequestEvent
from eventweave.rest._instrument import PYRAMID_REGISTRY_KEY, pyramid_apps
from eventweave.rest._registry import (
    FieldIsChanged,
    ModelClassIs,
    add_field_processors,
    subscribe_to_events,
)

__all__ = ["includeme", "notify"]


def includeme(config: Any) -> None:
    """Add the REST event directives and subscriber predicates to a Pyramid Configurator.

    Called by Pyramid for ``config.include("eventweave.contrib.pyramid")``.
    Also marks the application's registry so that instrumented views notify
    their events through ``request.registry``.

    :param config: the ``pyramid.config.Configurator``.
    """
    config.add_directive("subscribe_to_events", subscribe_to_events)
    config.add_directive("add_field_processors", add_field_processors)
    # Registered in this order so Pyramid checks the model before the field
    # predicate sets event.field.
    config.add_subscriber_predicate("model", ModelClassIs)
    config.add_subscriber_predicate("field", FieldIsChanged)
    # Set now, not as a deferred action: it is not configuration that can
    # conflict, and views may be called before config.commit() in tests.
    config.registry[PYRAMID_REGISTRY_KEY] = True
    pyramid_apps.include()


def notify(request: Any, event: RequestEvent) -> None:
    """Send a REST view event to the subscribers of the request's Pyramid registry.

    :param request: the Pyramid request being handled; its ``registry`` is
        the application's.
    :param event: the event to send.
    """
    request.registry.notify(event)
