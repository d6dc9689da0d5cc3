"""Where and how code is wrapped: targets, import hooks, generated wrappers, handles."""

from collections.abc import Callable
from types import ModuleType

from ._codegen import code_of
from ._flow import Frame, enclosing, require_flow
from ._handles import Weaving, original_of, refresh, slots, unweave_all, weave, woven
from ._hooks import Advice, Hook, Later, Site
from ._importhook import when_loaded
from ._targets import WeaveError, parse_target


def when_imported(module: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` once ``module`` has finished importing (at once if it has)."""
    when_loaded(module, callback)


__all__ = [
    "Advice",
    "Frame",
    "Hook",
    "Later",
    "Site",
    "WeaveError",
    "Weaving",
    "code_of",
    "enclosing",
    "original_of",
    "parse_target",
    "refresh",
    "require_flow",
    "slots",
    "unweave_all",
    "weave",
    "when_imported",
    "woven",
]
