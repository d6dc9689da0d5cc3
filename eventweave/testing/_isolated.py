"""Undo what a test wove, marked and subscribed, and nothing else."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from eventweave import rest
from eventweave._advice import _record_made
from eventweave.plan._section import record_done, undo_in_turn

if TYPE_CHECKING:
    from eventweave.rest import EventRegistry
    from eventweave.rest._registry import Subscription

__all__ = ["isolated"]


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Undo, on exit, the weavings, marks and REST subscriptions made inside the block.

    What was in force when the block began stays, a plan applied at start-up
    (``eventweave run -- pytest``, ``EVENTWEAVE_PLAN``) included:

    - every weaving :func:`eventweave.woven` lists on exit that it did not list on
      entry is unwoven, newest first (weaving again what was woven already
      returns the same weaving, which stays);
    - every marker set inside (:func:`~eventweave.mark`, :func:`~eventweave.silent`,
      :func:`~eventweave.trigger_instead`) is put back as it was, and a ``mark()``
      still waiting for its module's import is dropped;
    - what a plan applied inside connected (``[[connect]]`` receivers, ``[otel]``
      tracers) is taken back, so applying it again in a later block connects it again;
    - ``eventweave.rest.registry`` gets back the subscriptions it had on entry.

    Blocks nest. Other signal receivers are not tracked: use ``weak=True`` receivers,
    ``Signal.connected_to`` or :func:`~eventweave.testing.capture` for those.
    Also the ``eventweave_isolated`` pytest fixture.
    """
    undo_made = _record_made()
    undo_done = record_done()
    registry = rest.registry
    subscriptions = registry.receivers
    try:
        yield
    finally:
        undo_in_turn(
            undo_made, undo_done, functools.partial(restore_subscriptions, registry, subscriptions)
        )


@contextlib.contextmanager
def subscriptions_kept() -> Iterator[None]:
    """Give ``eventweave.rest.registry`` back, on exit, the subscriptions it had on entry.

    A plan applied inside that subscribed on it is told so, and subscribes
    again when applied again.
    """
    registry = rest.registry
    subscriptions = registry.receivers
    undo_done = record_done()
    try:
        yield
    finally:
        undo_in_turn(
            functools.partial(undo_done, on=registry),
            functools.partial(restore_subscriptions, registry, subscriptions),
        )


def restore_subscriptions(registry: EventRegistry, subscriptions: tuple[Subscription, ...]) -> None:
    """Give ``registry`` exactly ``subscriptions``, in order, if it has others now."""
    if registry.receivers == subscriptions:
        return
    registry.clear()
    for subscription in subscriptions:
        registry.subscribe(
            subscription.subscriber,
            subscription.events,
            model=subscription.model,
            field=subscription.field,
        )
