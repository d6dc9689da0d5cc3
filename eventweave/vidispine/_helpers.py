"""Signals around the methods of Vidispine helpers, the way Cantemo's interface sends them.

:func:`instrument_helpers` weaves one :class:`_VidispineEmit` per helper method,
each a :class:`eventweave.Emit` whose family (create, modify, delete, get,
ingest) picks the ``vidispine_pre_*`` / ``vidispine_post_*`` pair, with
``vidispine_failed`` as the error signal; ``ItemHelper.getItem`` also sends
``vidispine_get_item_ntfcn``. Each woven method is also registered with
:mod:`eventweave.vidispine._scope`, so the HTTP instrumentation stays quiet while
it runs and one operation never emits twice.

The helper classes may live in one module (``portal.vidispine.interface``) or,
as in Cantemo Portal, one module per class (``portal.vidispine.iitem:ItemHelper``,
``portal.vidispine.igroup:GroupHelper`` ...): ``module=`` takes a name or a
mapping class name -> module name.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from .._advice import Call, Emit
from .._weaving import Hook, Site, WeaveError, Weaving, parse_target, weave, when_imported
from .._weaving._targets import imported, nearest
from . import signals as _default_signals
from ._scope import register_helper_target

__all__ = ["FAMILIES", "HELPER_METHODS", "instrument_helpers"]

logger = logging.getLogger("eventweave.vidispine")

FAMILIES: tuple[str, ...] = ("create", "modify", "delete", "get", "ingest")
"""The Vidispine signal families, each a ``vidispine_pre_*`` / ``vidispine_post_*`` pair."""

HELPER_METHODS: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        "UserHelper": types.MappingProxyType(
            {
                "createUser": "create",
                "deleteUser": "delete",
                "addUserToGroup": "modify",
                "removeUserFromGroup": "modify",
                "getUser": "get",
            }
        ),
        "GroupHelper": types.MappingProxyType(
            {
                "createGroup": "create",
                "setChildGroupToGroup": "modify",
                "removeChildGroupFromGroup": "modify",
                "removeGroup": "delete",
                "getGroup": "get",
            }
        ),
        "ItemHelper": types.MappingProxyType(
            {
                "createPlaceholder": "create",
                "createMetadataFieldGroup": "create",
                "setItemMetadata": "modify",
                "createOrModifyMetadataField": "modify",
                "addFieldToMetadataFieldGroup": "modify",
                "createOrModifyShapeTag": "modify",
                "retranscode": "modify",
                "removeMetadataField": "delete",
                "removeMetadataFieldGroup": "delete",
                "removeItem": "delete",
                "removeShapeTag": "delete",
                "getItem": "get",
                "getItemMetadata": "get",
            }
        ),
    }
)
"""The default table: helper class name -> method name -> family (read-only).

``instrument_helpers(methods=...)`` overrides it per method."""

InstanceRule: TypeAlias = "str | Callable[[Call], Any]"
MethodSpec: TypeAlias = "str | tuple[str, str | Callable[[Call], Any]] | None"
ModuleSpec: TypeAlias = "str | types.ModuleType"

# Creates whose identifier only exists once Vidispine answered: the post signal's
# instance is the return value (the new id), the pre signal's is None.
_NEW_ID_METHODS: frozenset[tuple[str, str]] = frozenset({("ItemHelper", "createPlaceholder")})

# Cantemo raises vidispine_get_item_ntfcn on every getItem call (its plugin
# template tracks the items users visit with it), besides the get pair.
_ITEM_NOTICE_METHODS: frozenset[tuple[str, str]] = frozenset({("ItemHelper", "getItem")})

_FAILED = "vidispine_failed"
_ITEM_NOTICE = "vidispine_get_item_ntfcn"


def _pair_names(family: str) -> tuple[str, str]:
    return f"vidispine_pre_{family}", f"vidispine_post_{family}"


# -- the advice ---------------------------------------------------------------


@dataclass(frozen=True)
class _SignalSet:
    """Every Vidispine helper signal an advice may send: the pairs, failed, the item notice."""

    pairs: Mapping[str, tuple[Any, Any]]
    failed: Any
    item_notice: Any

    def key(self) -> tuple[int, ...]:
        ids = [id(signal) for family in FAMILIES for signal in self.pairs[family]]
        return (*ids, id(self.failed), id(self.item_notice))


class _VidispineEmit(Emit):
    """:class:`Emit` for one helper method: its family's pair, ``vidispine_failed`` on error.

    ``signals_for`` maps every family to its signals, so ``trigger_instead("delete")``
    on a woven helper method makes it emit the delete pair instead. With
    ``notice``, that signal is also sent after each call that returned, with the
    post signal's arguments (``getItem``'s ``vidispine_get_item_ntfcn``).
    """

    def __init__(
        self,
        family: str,
        signal_set: _SignalSet,
        *,
        instance: InstanceRule | None = None,
        robust: bool = False,
        notice: Any = None,
    ) -> None:
        pre, post = signal_set.pairs[family]
        super().__init__(
            pre, post, signal_set.failed, instance=instance, action=family, robust=robust
        )
        self.signal_set = signal_set
        self.notice = notice

    def _key(self) -> tuple[Any, ...]:
        return (*super()._key(), self.signal_set.key(), id(self.notice))

    def signals_for(self, action: str) -> tuple[Any, Any, Any] | None:
        pair = self.signal_set.pairs.get(action)
        if pair is None:
            return None
        return pair[0], pair[1], self.signal_set.failed

    def signals(self) -> tuple[Any, ...]:
        own = super().signals()
        return own if self.notice is None else (*own, self.notice)

    def bind(self, site: Site) -> Hook:
        hook = super().bind(site)
        if self.notice is not None:
            notice = Emit(post=self.notice, instance=self.instance, robust=self.robust)
            hook = _WithNotice(hook, notice.bind(site))
        # The helper scope mark lives exactly as long as this binding: made when
        # the method is woven (never for a weaving still pending), released when
        # it is unwoven.
        release = register_helper_target(site.target)
        hook.on_close(release)
        return hook

    def __repr__(self) -> str:
        instance = "" if self.instance is None else f", instance={self.instance!r}"
        notice = "" if self.notice is None else ", notice=vidispine_get_item_ntfcn"
        return f"{type(self).__name__}({self.action!r}{instance}{notice})"


class _WithNotice(Hook):
    """A helper method's hook followed by the hook sending its notice once the call returned.

    Each keeps its own state and reads the markers itself, so a silent or muted
    call sends neither; the notice follows the post signal, and a call that
    raised sends no notice.
    """

    def __init__(self, main: Hook, notice: Hook) -> None:
        self.main = main
        self.notice = notice

    @property
    def gate(self) -> tuple[Any, ...] | None:
        # The main gate lists the notice too, except while a trigger_instead
        # marker swaps in another family's signals: hence the union.
        main, notice = self.main.gate, self.notice.gate
        if main is None or notice is None:
            return None
        return (*main, *(s for s in notice if all(s is not m for m in main)))

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        return self.main.before(self_, args, kwargs, named), self.notice.before(
            self_, args, kwargs, named
        )

    def after(self, state: Any, result: Any) -> Any:
        return self.notice.after(state[1], self.main.after(state[0], result))

    def error(self, state: Any, exception: BaseException) -> None:
        self.main.error(state[0], exception)

    def close(self) -> None:
        self.main.close()
        self.notice.close()
        super().close()


# -- the plan: which methods, which family, which instance, which module ------


@dataclass(frozen=True)
class _Entry:
    helper: str
    method: str
    family: str
    instance: InstanceRule | None
    explicit: bool  # named in methods=: missing is an error, not a skipped default
    module: str = ""

    @property
    def target(self) -> str:
        return f"{self.module}:{self.helper}.{self.method}"


def _parse_spec(helper: str, method: str, spec: Any) -> tuple[str, InstanceRule | None]:
    where = f"methods[{helper!r}][{method!r}]"
    instance: InstanceRule | None = None
    if isinstance(spec, tuple):
        if len(spec) != 2:
            msg = f"{where} = {spec!r}: a tuple is (family, instance), e.g. ('create', 'result')"
            raise TypeError(msg)
        spec, instance = spec
        if not isinstance(instance, str) and not callable(instance):
            msg = (
                f"{where}: the instance rule must be a parameter name, 'self', 'result' "
                f"or a callable taking an eventweave.Call, got {instance!r}"
            )
            raise TypeError(msg)
    if not isinstance(spec, str):
        msg = (
            f"{where} = {spec!r}: give a family name ({', '.join(FAMILIES)}), "
            "a (family, instance) tuple, or None to leave the method alone"
        )
        raise TypeError(msg)
    if spec not in FAMILIES:
        msg = (
            f"{where} = {spec!r} is not a Vidispine family; expected one of "
            f"{', '.join(FAMILIES)}{nearest(spec, FAMILIES)}"
        )
        raise ValueError(msg)
    return spec, instance


def _default_instance(helper: str, method: str) -> InstanceRule | None:
    return "result" if (helper, method) in _NEW_ID_METHODS else None


def _plan(methods: Mapping[str, Mapping[str, MethodSpec] | None] | None) -> list[_Entry]:
    table: dict[str, dict[str, _Entry]] = {
        helper: {
            method: _Entry(helper, method, family, _default_instance(helper, method), False)
            for method, family in row.items()
        }
        for helper, row in HELPER_METHODS.items()
    }
    if methods is not None:
        if not isinstance(methods, Mapping):
            msg = (
                "methods= takes a mapping shaped like HELPER_METHODS, e.g. "
                f"{{'ItemHelper': {{'setItemMetadata': 'modify'}}}}, got {methods!r}"
            )
            raise TypeError(msg)
        for helper, overrides in methods.items():
            if not isinstance(helper, str) or not helper.isidentifier():
                msg = f"methods= keys are helper class names, got {helper!r}"
                raise TypeError(msg)
            if overrides is None:
                table.pop(helper, None)
                continue
            if not isinstance(overrides, Mapping):
                msg = (
                    f"methods[{helper!r}] must map method names to families "
                    f"(or be None to leave {helper} alone), got {overrides!r}"
                )
                raise TypeError(msg)
            row = table.setdefault(helper, {})
            for method, spec in overrides.items():
                if not isinstance(method, str) or not method.isidentifier():
                    msg = f"methods[{helper!r}] keys are method names, got {method!r}"
                    raise TypeError(msg)
                if spec is None:
                    row.pop(method, None)
                    continue
                family, instance = _parse_spec(helper, method, spec)
                if instance is None:
                    instance = _default_instance(helper, method)
                row[method] = _Entry(helper, method, family, instance, True)
    return [entry for row in table.values() for entry in row.values()]


def _module_name(value: Any, where: str) -> str:
    if isinstance(value, types.ModuleType):
        value = value.__name__
    if not isinstance(value, str):
        msg = f"{where} must be a module name such as 'portal.vidispine.iitem', got {value!r}"
        raise TypeError(msg)
    parse_target(f"{value}:Helper")  # raises WeaveError for a malformed module name
    return value


def _locate(module: Any, entries: list[_Entry]) -> list[_Entry]:
    """Give each entry the module its class lives in; drop classes a mapping leaves out.

    ``module`` is one module for every class, or a mapping class name -> module.
    A class the mapping does not name is left alone, unless ``methods=`` names
    one of its methods: that is a mistake worth an error.
    """
    if not isinstance(module, Mapping):
        name = _module_name(module, "module")
        return [dataclasses.replace(entry, module=name) for entry in entries]
    if not module:
        msg = (
            "module= is an empty mapping; map each helper class to its module, e.g. "
            "{'ItemHelper': 'portal.vidispine.iitem', 'GroupHelper': 'portal.vidispine.igroup', "
            "'UserHelper': 'portal.vidispine.iuser'}"
        )
        raise ValueError(msg)
    where: dict[str, str] = {}
    for helper, value in module.items():
        if not isinstance(helper, str) or not helper.isidentifier():
            msg = f"module= keys are helper class names such as 'ItemHelper', got {helper!r}"
            raise TypeError(msg)
        where[helper] = _module_name(value, f"module[{helper!r}]")
    located = []
    for entry in entries:
        if entry.helper in where:
            located.append(dataclasses.replace(entry, module=where[entry.helper]))
        elif entry.explicit:
            msg = (
                f"methods= names {entry.helper}.{entry.method}, but module= does not say "
                f"where {entry.helper} lives; add {entry.helper!r}: 'its.module' to module= "
                f"(it maps {', '.join(sorted(where))})"
            )
            raise ValueError(msg)
    return located


def _resolve_signals(signals: Any, needed: set[str]) -> _SignalSet:
    """Read the signals from ``signals=`` (module, object or mapping), or take ours.

    A family pair the plan uses must be there; the others, ``vidispine_failed``
    (which Cantemo's own signals module lacks) and ``vidispine_get_item_ntfcn``
    fall back to ours.
    """
    found: dict[str, Any] = {}
    missing: list[str] = []
    names = (*(n for family in FAMILIES for n in _pair_names(family)), _FAILED, _ITEM_NOTICE)
    for name in names:
        value = None
        if signals is not None:
            value = (
                signals.get(name) if isinstance(signals, Mapping) else getattr(signals, name, None)
            )
        if value is None:
            if signals is not None and name in needed:
                missing.append(name)
            value = getattr(_default_signals, name)
        elif not callable(getattr(value, "send", None)):
            msg = f"signals= holds {name} = {value!r}, which has no send(sender, **named) method"
            raise TypeError(msg)
        found[name] = value
    if missing:
        msg = (
            f"signals={signals!r} lacks {', '.join(missing)}; pass a module, object or "
            f"mapping holding signals named {', '.join(sorted(needed))}"
        )
        raise TypeError(msg)
    pairs = {
        family: (found[_pair_names(family)[0]], found[_pair_names(family)[1]])
        for family in FAMILIES
    }
    return _SignalSet(types.MappingProxyType(pairs), found[_FAILED], found[_ITEM_NOTICE])


# -- checking a module against the plan ---------------------------------------


def _classes_of(module: types.ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and not name.startswith("_")
    )


def _methods_of(cls: type) -> list[str]:
    return sorted(
        name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name, None))
    )


def _has_attribute(cls: type, name: str) -> bool:
    # vars() along the MRO, as the engine resolves targets: hasattr() would also
    # accept a name that a metaclass __getattr__ makes up, and then fail to weave.
    return any(name in vars(klass) for klass in inspect.getmro(cls))


def _missing_class(module: types.ModuleType, helper: str) -> str | None:
    """Why ``helper`` cannot be instrumented in ``module``, or None when it can."""
    value = getattr(module, helper, None)
    if isinstance(value, type):
        return None
    classes = _classes_of(module)
    defines = f"it defines {', '.join(classes)}" if classes else "it defines no classes"
    if value is None:
        what = f"module {module.__name__!r} has no class {helper!r}{nearest(helper, classes)}"
    else:
        what = f"{module.__name__}.{helper} is a {type(value).__qualname__}, not a class"
    return (
        f"{what} ({defines}); if it lives in a module of its own, map it there "
        f"(module={{..., {helper!r}: {_own_module(module.__name__, helper)!r}}}), or pass "
        f"methods={{{helper!r}: None}} to leave it out"
    )


def _own_module(near: str, helper: str) -> str:
    """Where Cantemo would keep ``helper``: ``ItemHelper`` -> ``<package>.iitem``."""
    stem = helper.removesuffix("Helper").lower() or helper.lower()
    package = near.rpartition(".")[0]
    return f"{package}.i{stem}" if package else f"i{stem}"


def _missing_method(module: types.ModuleType, entry: _Entry) -> str | None:
    """Why ``entry.method`` cannot be instrumented, or None when it can (class exists)."""
    cls = getattr(module, entry.helper)
    if _has_attribute(cls, entry.method):
        return None
    methods = _methods_of(cls)
    has = f"it has {', '.join(methods)}" if methods else "it has no public methods"
    return (
        f"{module.__name__}.{entry.helper} has no method {entry.method!r}"
        f"{nearest(entry.method, methods)} ({has})"
    )


# -- instrument_helpers -------------------------------------------------------


def instrument_helpers(
    module: ModuleSpec | Mapping[str, ModuleSpec] = "portal.vidispine.interface",
    *,
    methods: Mapping[str, Mapping[str, MethodSpec] | None] | None = None,
    signals: Any = None,
    robust: bool = False,
) -> list[Weaving]:
    """Send Cantemo's Vidispine signals around the methods of a portal's helper classes.

    Every method of :data:`HELPER_METHODS` (``UserHelper.createUser`` ...) sends its
    family's ``vidispine_pre_*`` signal before it runs and ``vidispine_post_*``
    after it returned, with Cantemo's arguments: ``sender`` the helper class (the
    runtime class of ``self``), ``instance`` the identifier the call is about (the
    first parameter after ``self``: user name, group name, item id; for
    ``createPlaceholder`` None before the call and the new item id after it),
    ``method`` the method name, each parameter by name (secrets such as
    ``newPassword`` masked), ``args``, ``kwargs``, and ``result`` after the call.
    ``ItemHelper.getItem`` then also sends ``vidispine_get_item_ntfcn`` with the
    same arguments (``instance``: the item id).
    A call that raises sends its pre signal, then ``vidispine_failed`` with the same
    arguments plus ``exception``, never the post signal; the exception reaches the
    caller unchanged. The code of the module is not changed.

    :param module: where the helper classes live: one module name for every class
        (``"portal.vidispine.interface"``), or a mapping class name -> module name
        for a portal that keeps one module per class, as Cantemo Portal does
        (``{"ItemHelper": "portal.vidispine.iitem", "GroupHelper":
        "portal.vidispine.igroup", "UserHelper": "portal.vidispine.iuser"}``); a
        class the mapping does not name is left alone. Each module is woven at
        once if it is imported, else when it is. A module object stands for its name.
    :param methods: overrides of :data:`HELPER_METHODS`, per method, in its shape:
        ``{"ItemHelper": {"setItemMetadata": "modify", "getItems": "get"}}``.
        A value is a family (``"create"``, ``"modify"``, ``"delete"``, ``"get"``,
        ``"ingest"``), a ``(family, instance)`` tuple whose ``instance`` is a rule
        as for :class:`eventweave.Emit` (``"result"`` for a create that returns the
        new id), or None to leave the method alone; ``{"GroupHelper": None}``
        leaves a whole class alone.
    :param signals: a module, object or mapping holding signals named like those of
        :mod:`eventweave.vidispine.signals` (a portal's own, Django signals ...), to
        emit on those instead. It must hold the pair of every family used; the
        other names, ``vidispine_failed`` and ``vidispine_get_item_ntfcn``, fall
        back to eventweave's.
    :param robust: log receivers' exceptions instead of raising them into the call.
    :returns: one :class:`eventweave.Weaving` per instrumented method (pending until
        its module is imported); instrumenting twice alike returns the same ones.
    :raises ValueError: a family in ``methods=`` is unknown, or ``methods=`` names a
        class that a ``module=`` mapping does not place.
    :raises TypeError: ``module=``, ``methods=`` or ``signals=`` is malformed or
        lacks a name.
    :raises eventweave.WeaveError: a module name is malformed, or an imported module
        lacks a class or method named in ``methods=`` (with what it has instead).

    A class of the default table that its module lacks, and a method of the
    default table that its class lacks, are logged as warnings (listing what the
    module or class has) and left out. When a module is imported later, the same
    checks run then: what the default table names and the module lacks is logged
    and its weavings dropped; a class or method named in ``methods=`` and missing
    is logged as an error and kept on its weaving's ``error``, never raised into
    the import.
    """
    entries = _locate(module, _plan(methods))
    needed = {name for entry in entries for name in _pair_names(entry.family)}
    signal_set = _resolve_signals(signals, needed)
    by_module: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_module.setdefault(entry.module, []).append(entry)
    kept: list[_Entry] = []
    pending: list[str] = []
    for name, group in by_module.items():
        loaded = imported(name)
        if loaded is None:
            kept += group
            pending.append(name)
        else:
            kept += _check_now(loaded, group)
    planned: dict[str, list[tuple[_Entry, Weaving]]] = {name: [] for name in pending}
    for name in pending:
        # Registered before the weavings, so it runs before the engine applies them.
        when_imported(name, functools.partial(_check_on_import, planned=planned[name]))
    return _weave_all(kept, signal_set, robust, planned)


def _check_now(module: types.ModuleType, entries: list[_Entry]) -> list[_Entry]:
    """Raise for what ``methods=`` names and ``module`` lacks; log and drop the rest."""
    kept = []
    absent: set[str] = set()
    for helper in dict.fromkeys(entry.helper for entry in entries):
        problem = _missing_class(module, helper)
        if problem is None:
            continue
        named = [e for e in entries if e.helper == helper and e.explicit]
        if named:
            raise WeaveError(named[0].target, problem)
        logger.warning("%s; %s is not instrumented", problem, helper)
        absent.add(helper)
    for entry in entries:
        if entry.helper in absent:
            continue
        problem = _missing_method(module, entry)
        if problem is None:
            kept.append(entry)
        elif entry.explicit:
            raise WeaveError(entry.target, problem)
        else:
            logger.warning("%s; %s is not instrumented", problem, entry.target)
    return kept


def _check_on_import(module: types.ModuleType, planned: list[tuple[_Entry, Weaving]]) -> None:
    # Runs inside the user's import statement: report, never raise. What methods=
    # named is left pending: the engine fails it next, logs why and keeps it on .error.
    reported: set[str] = set()
    for entry, weaving in planned:
        if not weaving.pending or entry.explicit:
            continue
        problem = _missing_class(module, entry.helper)
        if problem is not None:
            if entry.helper not in reported:
                reported.add(entry.helper)
                logger.warning("%s; %s is not instrumented", problem, entry.helper)
            weaving.unweave()
            continue
        problem = _missing_method(module, entry)
        if problem is not None:
            logger.warning("%s; %s is not instrumented", problem, weaving.target)
            weaving.unweave()


def _weave_all(
    entries: list[_Entry],
    signal_set: _SignalSet,
    robust: bool,
    planned: Mapping[str, list[tuple[_Entry, Weaving]]],
) -> list[Weaving]:
    done: list[tuple[Weaving, bool]] = []
    try:
        for entry in entries:
            notice = (
                signal_set.item_notice
                if (entry.helper, entry.method) in _ITEM_NOTICE_METHODS
                else None
            )
            advice = _VidispineEmit(
                entry.family, signal_set, instance=entry.instance, robust=robust, notice=notice
            )
            weaving = weave(entry.target, advice)
            fresh = weaving.advice is advice  # else: already instrumented alike
            if fresh and entry.module in planned:
                planned[entry.module].append((entry, weaving))
            done.append((weaving, fresh))
    except BaseException:
        for weaving, fresh in reversed(done):
            if fresh:
                weaving.unweave()
        raise
    return [weaving for weaving, _ in done]
