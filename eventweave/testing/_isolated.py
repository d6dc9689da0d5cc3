"""Undo what a test wove, marked and subscribed, and nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from eventweave import rest, woven
from eventweave._advice import _record_marks

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
    - ``eventweave.rest.registry`` gets back the subscriptions it had on entry.

    Blocks nest. Signal receivers are not tracked: use ``weak=True`` receivers,
    ``Signal.connected_to`` or :func:`~eventweave.testing.capture` for those.
    Also the ``eventweave_isolated`` pytest fixture.
    """
    before = woven()
    known = {id(weaving) for weaving in before}
    undo_marks = _record_marks()
    registry = rest.registry
    subscriptions = registry.receivers
    try:
        yield
    finally:
        try:
            for weaving in reversed(woven()):
                if id(weaving) not in known:
                    weaving.unweave()
        finally:
            undo_marks()
            restore_subscriptions(registry, subscriptions)


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
