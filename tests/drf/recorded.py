"""Reading what the ``seen`` fixture recorded."""

from __future__ import annotations

from eventweave.rest import RequestEvent


def names(events: list[RequestEvent]) -> list[str]:
    """The class names of events, in order (DRF's flavours keep the standard names)."""
    return [type(event).__name__ for event in events]
