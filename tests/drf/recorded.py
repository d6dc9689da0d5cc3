"""Reading what the ``seen`` fixture recorded, and what a view class holds."""

from __future__ import annotations

from types import CodeType, FunctionType
from typing import Any

from eventweave.rest import RequestEvent


def names(events: list[RequestEvent]) -> list[str]:
    """The class names of events, in order (DRF's flavours keep the standard names)."""
    return [type(event).__name__ for event in events]


def attributes(cls: type) -> dict[str, tuple[Any, CodeType | None]]:
    """Each attribute of ``cls``'s own namespace, with the code a function runs.

    A method woven in place stays the same function object and switches its
    ``__code__``: comparing objects alone would not see it left woven.
    """
    return {
        name: (value, value.__code__ if isinstance(value, FunctionType) else None)
        for name, value in vars(cls).items()
    }
