"""Targets: what a weaving names, and where in memory that is.

A target is either a string ``"package.module:Qual.name"`` (resolved when the
module is imported) or an ``(owner, "attribute")`` pair (resolved at once).
Resolution reads ``vars(cls)`` along the MRO, never ``getattr()`` on a class:
getattr would bind a classmethod and hide the descriptor we must restore.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import types
from typing import Any, NamedTuple

from ._importhook import initializing

__all__ = [
    "MISSING",
    "Resolved",
    "WeaveError",
    "describe",
    "label",
    "nearest",
    "parse_target",
    "resolve",
]


class _Missing:
    """Marks an attribute that an owner does not define in its own ``__dict__``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class WeaveError(Exception):
    """A target cannot be woven; the message names it and, where possible, the fix.

    :ivar target: the target string the error is about.
    """

    def __init__(self, target: str, message: str) -> None:
        self.target = target
        super().__init__(f"cannot weave {target!r}: {message}")


def parse_target(target: str) -> tuple[str, list[str]]:
    """Split ``"pkg.mod:Qual.name"`` into the module name and the attribute path."""
    module, sep, path = target.partition(":")
    parts = path.split(".") if path else []
    if not sep or not module or not parts or not all(p.isidentifier() for p in parts):
        hint = target.replace(":", ".")
        if ":" not in target and "." in target:
            mod, _, attr = hint.rpartition(".")
            hint = f"{mod}:{attr}"
        else:
            hint = "package.module:Class.method"
        msg = f"a target string is 'package.module:Qual.name' (did you mean {hint!r}?)"
        raise WeaveError(target, msg)
    if not all(p.isidentifier() for p in module.split(".")):
        raise WeaveError(target, f"{module!r} is not a module name")
    return module, parts


def describe(owner: Any, attribute: str) -> str:
    """The target string of ``(owner, attribute)``, as ``woven()`` lists it."""
    if isinstance(owner, types.ModuleType):
        return f"{owner.__name__}:{attribute}"
    if isinstance(owner, type):
        return f"{owner.__module__}:{owner.__qualname__}.{attribute}"
    cls = type(owner)
    return f"{cls.__module__}:{cls.__qualname__}.{attribute} of {cls.__name__} at {id(owner):#x}"


def nearest(name: str, candidates: Any) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to ``name``, else ``""``."""
    names = [c for c in candidates if isinstance(c, str)]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in names}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _attribute_names(obj: Any) -> list[str]:
    try:
        return dir(obj)
    except Exception:
        return []


def label(obj: Any) -> str:
    """How an error message names a module, class or object."""
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__!r}"
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def walk(target: str, module: types.ModuleType, path: list[str]) -> tuple[Any, str]:
    """Follow ``path`` from ``module`` to the owner of the last attribute."""
    owner: Any = module
    for name in path[:-1]:
        try:
            owner = getattr(owner, name)
        except AttributeError:
            hint = nearest(name, _attribute_names(owner))
            msg = f"{label(owner)} has no attribute {name!r}{hint}"
            raise WeaveError(target, msg) from None
    return owner, path[-1]


class Resolved(NamedTuple):
    """Where a target lives.

    :ivar owner: the object whose attribute is replaced (module, class or instance).
    :ivar attribute: the attribute name.
    :ivar defined: what ``owner.__dict__`` holds for it, or ``MISSING`` when it is
        inherited (then unweaving deletes the attribute instead of restoring it).
    :ivar value: the object found (``defined``, or the inherited one), descriptors
        left unbound.
    :ivar definer: the class whose ``__dict__`` holds ``value`` (``owner`` unless
        inherited; None for modules and instance attributes).
    """

    owner: Any
    attribute: str
    defined: Any
    value: Any
    definer: Any


def resolve(target: str, owner: Any, attribute: str) -> Resolved:
    """Find ``attribute`` on ``owner`` the way Python's lookup would, without binding."""
    if not isinstance(attribute, str) or not attribute.isidentifier():
        raise WeaveError(target, f"attribute name {attribute!r} is not an identifier")
    if isinstance(owner, type):
        for cls in inspect.getmro(owner):
            if attribute in vars(cls):
                value = vars(cls)[attribute]
                defined = value if cls is owner else MISSING
                return Resolved(owner, attribute, defined, value, cls)
    else:
        namespace = getattr(owner, "__dict__", None)
        if isinstance(namespace, dict) and attribute in namespace:
            return Resolved(owner, attribute, namespace[attribute], namespace[attribute], None)
        if not isinstance(owner, types.ModuleType):
            # An instance: the attribute comes from its class; weaving it puts a
            # wrapper in the instance's own __dict__ and leaves the class alone.
            if not isinstance(namespace, dict):
                msg = (
                    f"{type(owner).__qualname__} instances have no __dict__ (__slots__?), "
                    "so one object cannot be woven alone; weave the class instead"
                )
                if hasattr(type(owner), attribute):
                    raise WeaveError(target, msg)
            for cls in inspect.getmro(type(owner)):
                if attribute in vars(cls):
                    return Resolved(owner, attribute, MISSING, vars(cls)[attribute], cls)
    hint = nearest(attribute, _attribute_names(owner))
    msg = f"{label(owner)} has no attribute {attribute!r}{hint}"
    raise WeaveError(target, msg)


def imported(module: str) -> types.ModuleType | None:
    """The module if it has finished importing, else None."""
    mod = sys.modules.get(module)
    if mod is None or initializing(mod):
        return None
    return mod
