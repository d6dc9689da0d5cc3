"""Reading one table of a plan: typed values, target strings, import paths, action names.

Each reader takes the value and the place it was written, and returns it
checked or raises :class:`PlanError` naming that place. Import paths are
only checked for shape here; :meth:`ImportPath.resolve` imports them later.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .._weaving import WeaveError, parse_target
from .._weaving._importhook import initializing
from .._weaving._targets import nearest, resolve, walk
from ._errors import PlanError, Where, shown
from ._text import Document, Path

__all__ = [
    "ImportPath",
    "Table",
    "action",
    "check_module",
    "check_target",
    "import_failure",
    "import_module",
    "import_path",
    "kind",
    "raised",
    "resolve_target",
    "try_import",
]


def kind(value: Any) -> str:
    """What a value is, as an error message says it."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{shown(value)} (a string)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{shown(value)} ({type(value).__name__})"


def _names(values: Sequence[str]) -> str:
    return ", ".join(sorted(values))


def _is_dotted(name: str) -> bool:
    return bool(name) and all(map(str.isidentifier, name.split(".")))


@dataclass(slots=True)
class ImportPath:
    """``"pkg.mod:attr.path"`` (an object) or ``"pkg.mod"`` (a module), named in a plan."""

    text: str
    module: str
    attrs: tuple[str, ...]
    where: Where = field(compare=False)

    def resolve(self) -> Any:
        """Import the module and follow the attributes; PlanError naming the nearest name."""
        module = import_module(self.module, self.where, self.text)
        obj: Any = module
        for depth, name in enumerate(self.attrs):
            try:
                obj = getattr(obj, name)
            except AttributeError:
                owner = ".".join((self.module, *self.attrs[:depth]))
                hint = nearest(name, _dir(obj))
                raise self.where.error(f"{owner} has no attribute {name!r}{hint}") from None
        return obj

    @property
    def name(self) -> str:
        """The last name of the path: ``pre_pay`` for ``billing.signals:pre_pay``."""
        return self.attrs[-1] if self.attrs else self.module.rpartition(".")[2]


def _dir(obj: Any) -> list[str]:
    try:
        return dir(obj)
    except Exception:
        return []


def import_module(module: str, where: Where, what: str) -> ModuleType:
    """Import ``module`` for ``what`` (the plan's text naming it), or a PlanError saying why not."""
    loaded = sys.modules.get(module)
    if loaded is not None and not initializing(loaded):
        return loaded  # imported already: no import lock to take (from inside an import)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise where.error(f"cannot import {what!r}: {import_failure(module, exc)}") from None
    except Exception as exc:
        raise where.error(f"cannot import {what!r}: {raised(module, exc)}") from None


def raised(module: str, exc: BaseException) -> str:
    text = f"importing {module} raised {type(exc).__name__}: {exc}"
    if type(exc).__name__ in ("ImproperlyConfigured", "AppRegistryNotReady"):
        text += (
            " (a Django module: set DJANGO_SETTINGS_MODULE, or pass --settings to "
            "eventweave check/show, so that Django is set up first)"
        )
    return text


def import_failure(module: str, exc: ImportError) -> str:
    """Why ``module`` did not import, with the nearest existing module name if misspelled."""
    missing = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not missing:
        return f"{type(exc).__name__}: {exc}"
    if not (module == missing or module.startswith(missing + ".")):
        return f"importing {module} needs {missing!r}, which is not installed ({exc})"
    parent, _, leaf = missing.rpartition(".")
    candidates: list[str] = []
    if parent:
        try:
            package = importlib.import_module(parent)
        except Exception:
            package = None
        search = getattr(package, "__path__", None)
        if search is not None:
            candidates = [info.name for info in pkgutil.iter_modules(search)]
    else:
        candidates = [info.name for info in pkgutil.iter_modules()]
    close = difflib.get_close_matches(leaf, candidates, n=1, cutoff=0.75)
    hint = f"; did you mean {'.'.join(filter(None, (parent, close[0])))!r}?" if close else ""
    return f"no module named {missing!r}{hint}"


def try_import(module_name: str) -> tuple[ModuleType | None, str | None]:
    """Import a module the plan is about: ``(module, None)``, or ``(None, "pending: ...")``
    when it is not installed here, or ``(None, "missing: ...")`` (misspelled, or it raised)."""
    try:
        return importlib.import_module(module_name), None
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        own = isinstance(exc, ModuleNotFoundError) and (
            module_name == missing or module_name.startswith(missing + ".")
        )
        reason = import_failure(module_name, exc)
        pending = own and "did you mean" not in reason
        return None, f"pending: {reason}" if pending else f"missing: {reason}"
    except Exception as exc:
        return None, f"missing: {raised(module_name, exc)}"


def resolve_target(target: str) -> tuple[Any, str | None]:
    """Import and find ``target`` as the weaving engine would.

    :returns: ``(object, None)``, or ``(None, status)`` as :func:`try_import` says.
    """
    module_name, path = parse_target(target)
    module, problem = try_import(module_name)
    if module is None:
        return None, problem
    try:
        owner, attribute = walk(target, module, path)
        found = resolve(target, owner, attribute)
    except WeaveError as exc:
        return None, "missing: " + str(exc).split(": ", 1)[1]
    return found.value, None


class Table:
    """One table of a plan (``[portal]``, or one ``[[weave]]``), read key by key.

    :ivar data: the table's keys and values, as TOML gave them.
    :ivar location: where it is in the document: ``("portal",)``, ``("weave", 0)``.
    """

    def __init__(self, document: Document, location: Path, data: dict[str, Any]) -> None:
        self.document = document
        self.location = location
        self.data = data

    @property
    def file(self) -> str:
        return self.document.file

    def where(self, *keys: str | int) -> Where:
        """The place of a key of this table; with more keys, the line of a key inside it
        (``where("methods", "ItemHelper", "getItem")``), still named after the table's key."""
        path = (*self.location, *keys)
        key = (*self.location, keys[0]) if len(keys) > 1 else path
        return self.document.where(path, key=key)

    def where_item(self, key: str, value: str) -> Where:
        """The place of the string ``value`` written in the array ``key``."""
        return self.document.where((*self.location, key), value)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def error(self, reason: str, *keys: str | int) -> PlanError:
        return self.where(*keys).error(reason)

    def check_keys(self, allowed: Sequence[str]) -> None:
        for key in self.data:
            if key not in allowed:
                hint = nearest(key, allowed)
                msg = f"unknown key; expected one of {_names(allowed)}{hint}"
                raise self.error(msg, key)

    # -- values -----------------------------------------------------------------

    def string(self, key: str, what: str = "a string", default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise self.error(f"must be {what}, got {kind(value)}", key)
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, got {kind(value)}", key)
        return value

    def strings(self, key: str, what: str) -> list[str]:
        """A string or an array of strings."""
        value = self.data[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"must be {what} or an array of them, got {kind(value)}", key)
        return list(value)

    def targets(self, key: str) -> list[tuple[str, Where]]:
        """A target string or an array of them, each with where it is written."""
        found = []
        for text in self.strings(key, "a target string 'package.module:Qual.name'"):
            where = self.where_item(key, text)
            found.append((check_target(text, where), where))
        return found

    def module(self, key: str, default: str | None = None) -> str:
        text = self.string(key, "a module name such as 'package.module'", default)
        return check_module(text, self.where(key))

    def path(self, key: str, *, module_ok: bool = False) -> ImportPath:
        return import_path(self.data[key], self.where(key), module_ok=module_ok)

    def optional_path(self, key: str, *, module_ok: bool = False) -> ImportPath | None:
        return self.path(key, module_ok=module_ok) if key in self.data else None


def check_target(text: str, where: Where) -> str:
    try:
        parse_target(text)
    except WeaveError as exc:
        raise where.error(str(exc).replace("cannot weave ", "", 1)) from None
    return text


def check_module(text: str, where: Where) -> str:
    if ":" in text:
        raise where.error(f"{shown(text)} is a module name, without ':' (got an object path)")
    if not _is_dotted(text):
        raise where.error(f"{shown(text)} is not a module name such as 'package.module'")
    return text


def import_path(value: Any, where: Where, *, module_ok: bool = False) -> ImportPath:
    """Check that ``value`` reads ``'package.module:name'`` (or a module, if ``module_ok``)."""
    shape = "'package.module' or 'package.module:name'" if module_ok else "'package.module:name'"
    if not isinstance(value, str) or not value:
        raise where.error(f"must be an import path {shape}, got {kind(value)}")
    module, sep, attrs = value.partition(":")
    parts = tuple(attrs.split(".")) if sep else ()
    if (
        not _is_dotted(module)
        or (sep and not all(map(str.isidentifier, parts)))
        or (not sep and not module_ok)
    ):
        hint = ""
        if not sep and "." in value:
            head, _, tail = value.rpartition(".")
            hint = f" (did you mean {shown(f'{head}:{tail}')}?)"
        raise where.error(f"{shown(value)} is not an import path {shape}{hint}")
    return ImportPath(value, module, parts, where)


def action(value: Any, where: Where, allowed: Sequence[str]) -> str:
    """One of ``allowed`` (a REST action, a Vidispine family), or a PlanError suggesting one."""
    if not isinstance(value, str) or value not in allowed:
        shown_value = shown(value) if isinstance(value, str) else kind(value)
        hint = nearest(value, allowed) if isinstance(value, str) else ""
        msg = f"unknown action {shown_value}; expected one of {_names(allowed)}{hint}"
        raise where.error(msg)
    return value
