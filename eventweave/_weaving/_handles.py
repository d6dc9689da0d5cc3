"""Weavings: the handles ``weave()`` returns, and the slots they share.

A *slot* is one woven attribute: ``(owner, attribute)``. It remembers what the
owner's ``__dict__`` held before the first weaving (or that it held nothing,
the attribute being inherited) and the layers woven onto it in order, and it
is woven one of three ways, chosen once when it is created:

``inplace``
    The attribute is a plain Python function defined under that very name
    (its ``__module__`` and ``__qualname__`` are the target's). Nothing is
    replaced: the function's ``__code__`` switches between its own code and
    the listening form (see ``_codegen``), so every reference to it emits,
    even one taken before weaving, and no frame is added while nobody
    listens.
``wrapper``
    Any other plain Python function (imported into another namespace,
    inherited from a base class, one object's attribute): a generated
    wrapper with the target's signature replaces the attribute. The same
    wrapper stays installed for the slot's life; its code switches like an
    in-place function's.
``general``
    Anything else (builtins, callable objects): wrapt's ``FunctionWrapper``,
    reading the slot's current hooks on every call.

A change to the layers rebuilds the slot's listening form from every layer's
hook; removing the last layer restores the original (the pristine code, or
the original object by identity, or deletes the attribute when it was
inherited, so no shadow is left on a subclass). A wrapper or reference
captured meanwhile never emits once its weaving is gone.

The engine's lock guards the tables below and is held only for short,
self-contained updates: never while importing or calling user code
(``Advice.bind``, ``Hook.close``, a module's ``__getattr__``), so an import
running in another thread can never wait on it while it waits on that import.
Every table is indexed, so weaving, unweaving and marking cost O(1) each,
however many weavings there are.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any

import wrapt

from . import _codegen
from ._hooks import Advice, Hook, Later, Site
from ._importhook import when_loaded
from ._targets import (
    MISSING,
    Resolved,
    WeaveError,
    describe,
    imported,
    label,
    parse_target,
    resolve,
    walk,
)

__all__ = ["Weaving", "original_of", "refresh", "slots", "unweave_all", "weave", "woven"]

logger = logging.getLogger("eventweave")

# Guards every table below and every setattr on a woven owner. Re-entrant:
# rebuilding a slot rebuilds the slots inheriting from it.
_lock = threading.RLock()
_slots: dict[tuple[int, str], _Slot] = {}
# (id(class), attribute) -> slots of subclasses or objects that inherit that
# attribute through that class: rebuilt when its slot changes.
_heirs: dict[tuple[int, str], set[_Slot]] = {}
# id(installed object) -> its slot, so that original_of() on the many objects
# that are not wrappers (classes asked whether they are silent, per call) is
# one dict lookup, without the lock.
_by_installed: dict[int, _Slot] = {}
# id(function a slot's hooks are bound to) -> those slots (markers refresh them).
_by_function: dict[int, set[_Slot]] = {}
# Every weaving woven() lists or holds, in weave order (a dict as ordered set).
_weavings: dict[Weaving, None] = {}
# (target string, advice) -> its weaving; (id(owner), attribute) -> weavings there.
_by_target: dict[tuple[str, Advice], Weaving] = {}
_by_location: dict[tuple[int, str], list[Weaving]] = {}

_PENDING, _APPLIED, _FAILED, _UNWOVEN = "pending", "applied", "failed", "unwoven"


class Weaving:
    """The handle of one advice woven onto one target.

    :ivar target: the target string (``"pkg.mod:Class.method"``).
    :ivar advice: the advice woven.
    :ivar error: why a lazily applied weaving failed when its module was
        imported, else None.

    Use it as a context manager to unweave on exit.
    """

    __slots__ = (
        "__weakref__",
        "_hook",
        "_internal",
        "_location",
        "_pair",
        "_parts",
        "_slot",
        "_state",
        "advice",
        "error",
        "target",
    )

    def __init__(
        self, target: str, advice: Advice, pair: tuple[Any, str] | None, internal: bool
    ) -> None:
        self.target = target
        self.advice = advice
        self.error: Exception | None = None
        self._pair = pair
        self._internal = internal
        self._state = _PENDING
        self._location: tuple[int, str] | None = None
        self._slot: _Slot | None = None
        self._hook: Hook | None = None
        self._parts: Sequence[Weaving] = ()  # a list only for a class woven whole

    @property
    def parts(self) -> list[Weaving]:
        """For a class woven with an expanding advice: one weaving per method woven."""
        return list(self._parts)

    @property
    def applied(self) -> bool:
        """True once the target is wrapped; False while its module is not imported yet."""
        return self._state == _APPLIED

    @property
    def pending(self) -> bool:
        """True while the target's module has not been imported yet."""
        return self._state == _PENDING

    def unweave(self) -> None:
        """Remove this advice from its target; the last one out restores the original.

        Unweaving twice, or a weaving that never applied, does nothing.
        """
        with _lock:
            closing = self._detach()
        _close(closing)

    def _detach(self) -> list[Hook]:
        # caller holds _lock; returns the hooks to close once it is released
        closing: list[Hook] = []
        state, self._state = self._state, _UNWOVEN
        _forget(self)
        if state == _APPLIED and self._slot is not None:
            slot, self._slot = self._slot, None
            hook = slot.remove(self)
            if hook is not None:
                closing.append(hook)
        parts, self._parts = self._parts, ()
        for part in reversed(parts):
            closing += part._detach()
        return closing

    def refresh(self) -> None:
        """Rebuild what this weaving installed (its hooks' gates changed)."""
        with _lock:
            if self._slot is not None:
                self._slot.rebuild()
            for part in self._parts:
                part.refresh()

    def __enter__(self) -> Weaving:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unweave()

    def __repr__(self) -> str:
        state = self._state if self.error is None else f"failed: {self.error}"
        return f"<Weaving {self.target!r} {self.advice!r} ({state})>"


def _close(hooks: list[Hook]) -> None:
    """Close hooks, outside the lock (closing may unweave the marks they required)."""
    first: BaseException | None = None
    for hook in hooks:
        try:
            hook.close()
        except BaseException as exc:  # every hook gets closed; the first error is raised
            first = first or exc
    if first is not None:
        raise first


def _remember(weaving: Weaving) -> None:
    # caller holds _lock
    _weavings[weaving] = None
    if weaving._pair is None:
        _by_target.setdefault((weaving.target, weaving.advice), weaving)


def _located(weaving: Weaving, key: tuple[int, str]) -> None:
    # caller holds _lock
    weaving._location = key
    _by_location.setdefault(key, []).append(weaving)


def _forget(weaving: Weaving) -> None:
    # caller holds _lock
    _weavings.pop(weaving, None)
    if _by_target.get((weaving.target, weaving.advice)) is weaving:
        del _by_target[(weaving.target, weaving.advice)]
    key, weaving._location = weaving._location, None
    located = _by_location.get(key) if key is not None else None
    if located is not None and weaving in located:
        located.remove(weaving)
        if not located:
            del _by_location[key]  # type: ignore[arg-type]


class _Holder:
    """What a wrapt wrapper reads on every call: the slot's current hooks."""

    __slots__ = ("after", "before", "error", "gate")

    def __init__(self) -> None:
        self.before: Callable[..., Any] | None = None
        self.after: Callable[..., Any] | None = None
        self.error: Callable[..., Any] | None = None
        self.gate: tuple[Any, ...] | None = None


class _Slot:
    """One woven attribute and the layers on it."""

    __slots__ = (
        "attribute",
        "bind",
        "defined",
        "function",
        "heir_keys",
        "holder",
        "idle",
        "idle_form",
        "installed",
        "key",
        "layers",
        "mode",
        "owner",
        "pristine",
        "site",
        "switch",
    )

    def __init__(self, owner: Any, attribute: str, found: Resolved, target: str) -> None:
        self.owner = owner
        self.attribute = attribute
        self.key = (id(owner), attribute)
        self.defined = found.defined  # what owner.__dict__ held, restored by identity
        self.layers: list[tuple[Weaving, Hook]] = []
        self.installed: Any = MISSING
        self.switch: _codegen.Switch | None = None
        self.holder: _Holder | None = None
        self.mode = "general"
        self.function: types.FunctionType | None = None  # the function whose code switches
        self.idle: types.CodeType | None = None
        self.idle_form: _codegen.Form | None = None  # a wrapper's pass-through
        self.pristine: Any = None  # what the listening form calls
        self.bind: Callable[..., dict[str, Any]] | None = None
        self.heir_keys: tuple[tuple[int, str], ...] = ()  # only an inherited attribute has some
        # Inherited from a woven class: what lies under that class's weaving.
        self.site = self._describe_site(target, self.underlying())

    # -- what lies underneath -------------------------------------------------

    def _classes(self) -> tuple[type, ...]:
        if isinstance(self.owner, type):
            return inspect.getmro(self.owner)[1:]
        if isinstance(self.owner, types.ModuleType):
            return ()
        return inspect.getmro(type(self.owner))

    def parent(self) -> _Slot | None:
        """The woven slot of the class this attribute is inherited from, if any."""
        if self.defined is not MISSING:
            return None
        for cls in self._classes():
            if self.attribute in vars(cls):
                parent = _slots.get((id(cls), self.attribute))
                if parent is not None and parent.layers:
                    return parent
                return None
        return None

    def underlying(self) -> Any:
        """The object a call reaches without this slot (and without the slots it inherits)."""
        if self.defined is not MISSING:
            return self.defined
        parent = self.parent()
        if parent is not None:
            return parent.underlying()
        for cls in self._classes():
            if self.attribute in vars(cls):
                return vars(cls)[self.attribute]
        raise WeaveError(describe(self.owner, self.attribute), "the attribute has disappeared")

    def pristine_function(self) -> Any:
        """The callable behind the attribute, running its original code."""
        if self.mode == "inplace" and self.function is not None:
            if self.pristine is None:  # made on first need: a copy running the own code
                self.pristine = _codegen.copy_function(self.function)
            return self.pristine
        parent = self.parent()
        if parent is not None:
            return parent.pristine_function()
        return self.site.function

    def hooks(self) -> list[Hook]:
        """Hooks of the woven definition this one inherits from, then its own."""
        parent = self.parent()
        inherited = parent.hooks() if parent is not None else []
        return inherited + [hook for _, hook in self.layers]

    def own_attribute(self) -> bool:
        """Whether the attribute is an object's own, which attribute lookup never binds."""
        return self.defined is not MISSING and not isinstance(self.owner, (type, types.ModuleType))

    def binds(self) -> bool:
        """Whether the attribute comes from the class of the object woven alone.

        What is installed on that object must then be bound to it, as the
        class attribute would have been when looked up through the object.
        """
        return self.defined is MISSING and not isinstance(self.owner, (type, types.ModuleType))

    def _describe_site(self, target: str, value: Any) -> Site:
        kind, function = _classify(target, self.owner, value, self.own_attribute())
        self.mode = self._choose_mode(kind, function)
        return Site(
            target=target,
            owner=self.owner,
            name=self.attribute,
            kind=kind,
            function=function,
            parameters=parameters_of(kind, function),
            is_async=is_async(function),
        )

    def _choose_mode(self, kind: str, function: Any) -> str:
        if kind == "callable" or not _codegen.can_generate(function):
            return "general"
        if kind in ("method", "classmethod") and not function.__code__.co_argcount:
            return "general"  # a "method" without self: only wrapt can call it as one
        if (
            self.defined is not MISSING
            and isinstance(self.owner, (type, types.ModuleType))
            and _defined_here(function, self.owner, self.attribute)
            and not os.environ.get(_codegen.INPLACE_ENV)
            and not _codegen.switched(function)  # already woven in place, or @emits
        ):
            return "inplace"
        return "wrapper"

    # -- building and installing ---------------------------------------------

    def rebuild(self) -> None:
        # caller holds _lock
        if not self.layers:
            self._restore()
        else:
            self._build()
        for heir in list(_heirs.get(self.key, ())):
            if heir is not self:
                heir.rebuild()

    def _build(self) -> None:
        if self.installed is not MISSING and _own_value(self.owner, self.attribute) is not (
            self.installed
        ):
            logger.warning(
                "%s was replaced by someone else after it was woven; eventweave re-installs "
                "its wrapper over the replacement's place (the replacement is lost)",
                describe(self.owner, self.attribute),
            )
            self._install(self.installed)
        hooks = self.hooks()
        gate = _union_gate(hooks)
        site = self.site
        if self.mode == "general":
            self._build_general(hooks, gate)
            return
        function = self._function()
        recipe = _codegen.Recipe(
            self.pristine_function,
            site.target,
            site.kind in ("method", "classmethod"),
            hooks,
            self.bind,
        )
        assert self.idle is not None
        switch = _codegen.Switch(function, self.idle, gate, recipe)
        old, self.switch = self.switch, switch
        if old is not None:
            old.detach()
        switch.attach()

    def _function(self) -> types.FunctionType:
        """The function whose code switches, made (and installed) on first use."""
        if self.function is not None:
            return self.function
        site = self.site
        self.bind = _binder(site)
        if self.mode == "inplace":
            function: types.FunctionType = site.function
            self.function = function
            self.idle = _codegen.code_of(function)
            return function
        original = self.pristine_function()
        wrapper, idle = _codegen.make_wrapper(original, site.function, target=site.target)
        self.function, self.idle, self.idle_form = wrapper, idle.code, idle
        installed: Any = wrapper
        if site.kind == "classmethod":
            installed = classmethod(wrapper)
        elif site.kind == "staticmethod":
            installed = staticmethod(wrapper)
        if self.binds():
            # What the class attribute gives when looked up through the object:
            # a method bound to it (to its class for a classmethod).
            installed = installed.__get__(self.owner, type(self.owner))
        self._install(installed)
        _by_installed[id(wrapper)] = self
        return wrapper

    def _build_general(self, hooks: list[Hook], gate: tuple[Any, ...] | None) -> None:
        holder = self.holder
        if holder is None:
            holder = self.holder = _Holder()
            value = self.underlying()
            wrapper: Any = _general_wrapper(value, self.site.kind, holder)
            if self.binds() and hasattr(type(wrapper), "__get__"):
                wrapper = wrapper.__get__(self.owner, type(self.owner))
            self._install(wrapper)
        holder.before, holder.after, holder.error = _codegen.compose(hooks)
        holder.gate = gate

    def _install(self, obj: Any) -> None:
        try:
            setattr(self.owner, self.attribute, obj)
        except (TypeError, AttributeError) as exc:
            msg = (
                f"{label(self.owner)} refuses a new {self.attribute!r} ({exc}); weave a "
                "subclass, or the name callers look it up by (a module attribute)"
            )
            raise WeaveError(describe(self.owner, self.attribute), msg) from exc
        self.installed = obj
        _by_installed[id(obj)] = self

    def _restore(self) -> None:
        # caller holds _lock: the last layer is gone
        if self.switch is not None:
            # In place: the pristine code. A wrapper: its pass-through, for
            # good, so that a reference taken while it was installed stays
            # quiet from now on.
            self.switch.detach(final=self.idle)
            self.switch = None
        if self.idle_form is not None:
            self.idle_form.unregister()
        if self.holder is not None:
            self.holder.before = None
        if self.function is not None:
            _by_installed.pop(id(self.function), None)
        if self.installed is not MISSING:
            _by_installed.pop(id(self.installed), None)
            current = _own_value(self.owner, self.attribute)
            if current is not self.installed:
                logger.warning(
                    "not restoring %s: it was replaced after being woven, and putting the "
                    "original back would undo that replacement",
                    describe(self.owner, self.attribute),
                )
            elif self.defined is MISSING:
                delattr(self.owner, self.attribute)
            else:
                setattr(self.owner, self.attribute, self.defined)
            self.installed = MISSING
        _slots.pop(self.key, None)
        functions = _by_function.get(id(self.site.function))
        if functions is not None:
            functions.discard(self)
            if not functions:
                del _by_function[id(self.site.function)]
        for key in self.heir_keys:
            heirs = _heirs.get(key)
            if heirs is not None:
                heirs.discard(self)
                if not heirs:
                    del _heirs[key]
        self.heir_keys = ()

    def register(self) -> None:
        # caller holds _lock: a new slot joins the indexes
        _slots[self.key] = self
        _by_function.setdefault(id(self.site.function), set()).add(self)
        if self.defined is MISSING:
            self.heir_keys = tuple((id(cls), self.attribute) for cls in self._classes())
            for key in self.heir_keys:
                _heirs.setdefault(key, set()).add(self)

    def add(self, weaving: Weaving, hook: Hook) -> None:
        # caller holds _lock
        self.layers.append((weaving, hook))
        try:
            self.rebuild()
        except BaseException:
            self.layers.pop()
            if not self.layers:
                self._restore()
            raise

    def remove(self, weaving: Weaving) -> Hook | None:
        # caller holds _lock; returns the hook to close
        for index, (layer, hook) in enumerate(self.layers):
            if layer is weaving:
                del self.layers[index]
                self.rebuild()
                return hook
        return None


def _defined_here(function: Any, owner: Any, attribute: str) -> bool:
    """Whether ``function`` was defined under this very name (so patching its code is sound)."""
    if type(function) is not types.FunctionType or function.__name__ != attribute:
        return False
    code = function.__code__
    qualname = getattr(code, "co_qualname", function.__qualname__)
    if code.co_name != function.__name__ or qualname != function.__qualname__:
        return False  # a decorator's wrapper carrying the decorated function's names
    if isinstance(owner, types.ModuleType):
        return function.__module__ == owner.__name__ and function.__qualname__ == attribute
    if (
        function.__module__ != owner.__module__
        or function.__qualname__ != f"{owner.__qualname__}.{attribute}"
    ):
        return False
    # Names can lie: a class made by type(name, bases, namespace) or copied
    # from another carries that one's names, and may hold the very same
    # function, which then belongs to the other class as much as to this one.
    for base in owner.__mro__[1:]:
        held = base.__dict__.get(attribute)
        if held is function or getattr(held, "__func__", None) is function:
            return False
    # Where the names lead (read from namespaces: no module __getattr__ runs).
    found: Any = sys.modules.get(owner.__module__)
    for part in owner.__qualname__.split("."):
        namespace = getattr(found, "__dict__", None)
        found = namespace.get(part) if isinstance(namespace, Mapping) else None
        if found is None:
            return True  # defined in a function, or not bound yet (a class decorator)
    return found is owner


def _own_value(owner: Any, attribute: str) -> Any:
    namespace = getattr(owner, "__dict__", None)
    if namespace is None:
        return MISSING
    return namespace.get(attribute, MISSING)


def _classify(target: str, owner: Any, value: Any, own: bool) -> tuple[str, Any]:
    """The site kind of ``value`` found on ``owner``, and the function to call.

    ``own``: the value is an object's own attribute (not its class's), which
    attribute lookup returns as is, so a function there is not a method.
    """
    if isinstance(value, property):
        raise WeaveError(target, "it is a property; weave the function behind it instead")
    if isinstance(value, classmethod):
        return "classmethod", value.__func__
    if isinstance(value, staticmethod):
        return "staticmethod", value.__func__
    if not callable(value):
        raise WeaveError(target, f"it is a {type(value).__qualname__}, not something callable")
    if isinstance(owner, types.ModuleType) or own:
        return "function", value
    if isinstance(value, types.FunctionType):
        return "method", value
    return "callable", value


def signature_of(function: Any) -> inspect.Signature | None:
    """``inspect.signature(function)``, or None for callables that have none."""
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _takes_self(kind: str, function: Any) -> bool:
    # A callable found on a class binds like a method when it is a descriptor
    # (a C method such as dict.get, a wrapt wrapper); wrapt then passes the
    # object as ``instance`` and the signature lists it first.
    if kind in ("method", "classmethod", "auto"):
        return True
    return kind == "callable" and hasattr(type(function), "__get__")


def decorated(function: Any) -> bool:
    """Whether ``function`` is a decorator's wrapper whose signature is another function's.

    ``functools.wraps`` (Django's ``sensitive_variables``, ``method_decorator``
    …) leaves a ``__wrapped__`` whose parameters ``inspect.signature``
    shows; the wrapper's own are ``*args, **kwargs``. Parameters are sent by
    the names ``inspect.signature`` shows.
    """
    if type(function) is not types.FunctionType:
        return False
    namespace = function.__dict__
    if "__wrapped__" not in namespace and "__signature__" not in namespace:
        return False
    signature = signature_of(function)
    return signature is not None and tuple(signature.parameters) != _codegen.names_of(function)


def parameters_of(kind: str, function: Any) -> tuple[str, ...]:
    """The parameter names of a site's function after ``self``/``cls``, in order."""
    if type(function) is types.FunctionType and not decorated(function):
        names = _codegen.names_of(function)
    else:
        signature = signature_of(function)
        if signature is None:
            return ()
        names = tuple(signature.parameters)
    return names[1:] if names and _takes_self(kind, function) else names


def is_async(function: Any) -> bool:
    """Whether calling ``function`` returns a coroutine (an ``async def``, or an
    object whose ``__call__`` is one)."""
    if type(function) is types.FunctionType and "_is_coroutine_marker" not in function.__dict__:
        return bool(_codegen.code_of(function).co_flags & inspect.CO_COROUTINE)
    if inspect.iscoroutinefunction(function):
        return True
    if not callable(function) or isinstance(
        function, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)
    ):
        return False
    return inspect.iscoroutinefunction(type(function).__call__)


def _union_gate(hooks: list[Hook]) -> tuple[Any, ...] | None:
    if len(hooks) == 1:
        return hooks[0].gate
    gate: list[Any] = []
    for hook in hooks:
        own = hook.gate
        if own is None:
            return None
        gate.extend(g for g in own if all(g is not seen for seen in gate))
    return tuple(gate)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _bind(
    signature: inspect.Signature | None,
    self_: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, Any]]:
    """``(args, kwargs, named)`` after ``self_``, bound by ``signature``.

    ``args``: the positional parameters (defaults included) and ``*args``;
    ``kwargs``: the keyword-only ones and ``**kwargs``; ``named``: all of them
    by name, ``**kwargs`` expanded (a key repeating a positional-only
    parameter's name does not override it). Without a signature that binds,
    the call's own ``args`` and ``kwargs``, and nothing by name.
    """
    if signature is None:
        return args, kwargs, {}
    try:
        if self_ is not None:
            bound = signature.bind(self_, *args, **kwargs)
        else:
            bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs, {}  # the call itself will raise the TypeError
    bound.apply_defaults()
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    named: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for index, (name, value) in enumerate(bound.arguments.items()):
        if index == 0 and self_ is not None:
            continue
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            keywords.update(value)
            extra = value
            continue
        if kind in _POSITIONAL:
            positional.append(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(value)
        else:
            keywords[name] = value
        named[name] = value
    for name, value in extra.items():
        named.setdefault(name, value)
    return tuple(positional), keywords, named


def _binder(site: Site) -> Callable[..., dict[str, Any]] | None:
    """For a decorated target: ``bind(self_, args, kwargs) -> named`` by its signature."""
    if not decorated(site.function):
        return None
    signature = signature_of(site.function)

    def bind(self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return _bind(signature, self_, args, kwargs)[2]

    return bind


def _general_wrapper(value: Any, kind: str, holder: _Holder) -> Any:
    """wrapt's FunctionWrapper for what cannot be specialised (builtins, callables).

    It reads the slot's hooks from ``holder`` on every call, so the same
    wrapper serves every rebuild and goes quiet for good when unwoven. wrapt
    hands over the object a method is bound to as ``instance`` (the class
    for a classmethod, None for static and plain callables), which is what
    the hooks get as ``self_``.
    """
    # @emits hands over the function inside a classmethod/staticmethod itself
    function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    signature = signature_of(function)
    takes_self = _takes_self(kind, function)
    python_method = kind in ("method", "classmethod", "auto")
    listening = _codegen.listening

    def live() -> bool:
        if holder.before is None:
            return False
        gate = holder.gate
        return gate is None or any(listening(g) for g in gate)

    def enter(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is None and python_method and args:
            # Reached unbound, e.g. through a classmethod wrapping this
            # wrapper on Python 3.13+: the first argument is self or cls.
            instance, args = args[0], args[1:]
        if not takes_self:
            instance = None
        assert holder.before is not None
        return holder.before(instance, *_bind(signature, instance, args, kwargs))

    if is_async(function):

        async def async_around(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if not live():
                return await wrapped(*args, **kwargs)
            after, error = holder.after, holder.error
            assert after is not None and error is not None
            state = enter(instance, args, kwargs)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                error(state, exc)
                raise
            return after(state, result)

        return wrapt.FunctionWrapper(value, async_around)

    def around(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not live():
            return wrapped(*args, **kwargs)
        after, error = holder.after, holder.error
        assert after is not None and error is not None
        state = enter(instance, args, kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            error(state, exc)
            raise
        return after(state, result)

    return wrapt.FunctionWrapper(value, around)


_SWITCH = "__eventweave_switch__"


def decorate(function: Any, hook: Hook, kind: str, target: str) -> tuple[Any, Callable[[], None]]:
    """Weave ``hook`` onto a function being decorated (``@emits``): ``(result, release)``.

    A plain Python function is woven in place and returned as it is; anything
    else gets a wrapper. ``release()`` returns it to its original form.
    """
    if _codegen.can_generate(function) and not os.environ.get(_codegen.INPLACE_ENV):
        has_self = kind in ("auto", "classmethod") and function.__code__.co_argcount > 0
        pristine = _codegen.copy_function(function)
        bind = _binder(
            Site(target, None, function.__name__, kind, function, (), is_async(function))
        )
        recipe = _codegen.Recipe(repeat(pristine).__next__, target, has_self, [hook], bind, True)
        idle = function.__code__
        switch = _codegen.Switch(function, idle, hook.gate, recipe, owned=True)
        switch.attach()
        # The function owns its switch (the gate's signals only hold it
        # weakly): both go when the function does.
        function.__dict__[_SWITCH] = switch

        def restore() -> None:
            # Under the lock: refresh() may be swapping the switch meanwhile.
            with _lock:
                switch = function.__dict__.pop(_SWITCH, None)
            if switch is not None:
                switch.detach(final=idle)

        return function, restore
    holder = _Holder()
    holder.before, holder.after, holder.error = _codegen.compose([hook])
    holder.gate = hook.gate
    wrapper = _general_wrapper(function, kind, holder)

    def release() -> None:
        holder.before = None

    return wrapper, release


# -- weaving ------------------------------------------------------------------


def _apply(weaving: Weaving, owner: Any, attribute: str) -> None:
    """Weave ``weaving`` onto ``(owner, attribute)``; called without the lock held."""
    expand = getattr(weaving.advice, "expand", None)
    if expand is not None and not weaving._internal:
        cls = resolve(weaving.target, owner, attribute).value
        if not isinstance(cls, type):
            kind = type(cls).__qualname__
            raise WeaveError(weaving.target, f"it is a {kind}; {weaving.advice!r} weaves classes")
        weaving._pair = (owner, attribute)
        _apply_parts(weaving, cls, expand)
        return
    key = (id(owner), attribute)
    for _attempt in range(8):
        with _lock:
            if weaving._state != _PENDING:
                return
            slot = _slots.get(key)
            found: Resolved | None = None
            if slot is None:
                found = resolve(weaving.target, owner, attribute)
                slot = _Slot(owner, attribute, found, weaving.target)
            site = slot.site
        # Outside the lock: binding runs the advice's code, which may import
        # (a plan resolving its signals) or weave (a flow mark).
        try:
            hook = weaving.advice.bind(site)
        except Later as later:
            # Stays pending; tried again when that module's import has ended.
            when_loaded(later.module, lambda _: _retry(weaving, owner, attribute))
            return
        try:
            with _lock:
                current = _slots.get(key)
                if weaving._state != _PENDING:
                    target_slot = None
                elif current is not None and current.site.function is site.function:
                    target_slot = current  # stack on it (bind() may have made it)
                elif current is None and found is not None and _unchanged(found, owner, attribute):
                    target_slot = slot
                    slot.register()
                else:
                    target_slot = None  # the attribute changed meanwhile: look again
                if target_slot is not None:
                    target_slot.add(weaving, hook)
                    _applied(weaving, target_slot)
                    return
        except BaseException:
            _close([hook])
            raise
        _close([hook])
        if weaving._state != _PENDING:
            return
    raise WeaveError(weaving.target, "the attribute keeps changing while it is being woven")


def _unchanged(found: Resolved, owner: Any, attribute: str) -> bool:
    """Whether ``(owner, attribute)`` still resolves to what ``found`` says, in O(1)."""
    own = _own_value(owner, attribute)
    if found.defined is not MISSING:
        return own is found.defined
    if own is not MISSING:
        return False  # defined on the owner itself meanwhile
    definer = found.definer
    return definer is None or vars(definer).get(attribute, MISSING) is found.value


def _retry(weaving: Weaving, owner: Any, attribute: str) -> None:
    """Apply a weaving whose advice asked to wait (:class:`Later`); errors go to its log."""
    if weaving._state != _PENDING:
        return
    try:
        _apply(weaving, owner, attribute)
    except (WeaveError, ValueError, TypeError) as exc:
        with _lock:
            if weaving._state != _PENDING:
                return
            weaving.error, weaving._state = exc, _FAILED
        logger.error("%s (the weaving is not applied)", exc)


def _applied(weaving: Weaving, slot: _Slot) -> None:
    # caller holds _lock
    weaving._slot, weaving._hook, weaving._state = slot, slot.layers[-1][1], _APPLIED
    _located(weaving, slot.key)


def _apply_parts(weaving: Weaving, cls: type, expand: Any) -> None:
    """Weave the methods an expanding advice names on ``cls``, as parts of one weaving.

    An advice with ``expand(target, cls) -> list[str]`` (REST view events) is
    woven on a class by weaving each named method; the parts are internal, so
    ``woven()`` lists the class once, and unweaving it unweaves them all.
    All names are checked before anything is woven.
    """
    names = expand(weaving.target, cls)
    parts: list[Weaving] = []
    try:
        for name in names:
            with _lock:
                if _find_at((cls, name), weaving.advice) is not None:
                    continue  # already woven alike (a decorator, say): not ours to undo
                part = Weaving(f"{weaving.target}.{name}", weaving.advice, (cls, name), True)
                _remember(part)
            _apply(part, cls, name)
            parts.append(part)
    except BaseException:
        for part in reversed(parts):
            part.unweave()
        raise
    with _lock:
        weaving._parts, weaving._state = parts, _APPLIED
        assert weaving._pair is not None
        _located(weaving, (id(weaving._pair[0]), weaving._pair[1]))


def _on_import(weaving: Weaving, module: types.ModuleType, path: list[str]) -> None:
    # Runs inside the user's import statement: an error here must not break
    # their import, so it is logged and kept on the weaving instead.
    if weaving._state != _PENDING:
        return
    try:
        owner, attribute = walk(weaving.target, module, path)
        _apply(weaving, owner, attribute)
    except (WeaveError, ValueError, TypeError) as exc:  # an advice refusing what it found
        with _lock:
            if weaving._state != _PENDING:
                return
            weaving.error, weaving._state = exc, _FAILED
        logger.error(
            "%s (module %s was imported, the weaving is not applied)", exc, module.__name__
        )


def _find_at(pair: tuple[Any, str], advice: Advice) -> Weaving | None:
    # caller holds _lock
    for existing in _by_location.get((id(pair[0]), pair[1]), ()):
        if existing.advice == advice and existing._state == _APPLIED:
            return existing
    return None


def _find_target(target: str, advice: Advice) -> Weaving | None:
    # caller holds _lock
    existing = _by_target.get((target, advice))
    if existing is not None and existing._state in (_PENDING, _APPLIED):
        return existing
    return None


def weave(target: str | tuple[Any, str], advice: Advice, *, _internal: bool = False) -> Weaving:
    """Instrument ``target`` in place so that calling it runs ``advice``.

    :param target: ``"package.module:Qual.name"`` — woven when that module is
        imported, or at once if it already is — or an ``(owner, "attribute")``
        pair, woven at once. ``owner`` may be a module, a class, or one object
        (only that object is affected; its class is left alone).
    :param advice: what the call emits, e.g. :class:`eventweave.Emit`.
    :returns: the :class:`Weaving` handle; weaving the same target with an equal
        advice again returns the same handle and changes nothing.
    :raises WeaveError: the target does not exist (with the nearest existing
        name), or cannot be wrapped.
    """
    if not isinstance(advice, Advice):
        msg = (
            f"advice must be an eventweave advice such as Emit(pre=..., post=...), "
            f"got {type(advice).__qualname__}"
        )
        raise TypeError(msg)
    if isinstance(target, str):
        module_name, path = parse_target(target)
        module = imported(module_name)
        if module is not None:
            owner, attribute = walk(target, module, path)  # outside the lock: may run user code
            return _weave_now(target, (owner, attribute), advice, _internal, named=True)
        with _lock:
            existing = _find_target(target, advice)
            if existing is not None:
                return existing
            weaving = Weaving(target, advice, None, _internal)
            _remember(weaving)
        # The callback runs at once if the module got imported meanwhile, and
        # later from the thread completing its import.
        when_loaded(module_name, lambda module: _on_import(weaving, module, path))
        return weaving
    if isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str):
        return _weave_now(describe(*target), target, advice, _internal, named=False)
    msg = (
        f"target must be 'package.module:Qual.name' or an (owner, 'attribute') pair, got {target!r}"
    )
    raise TypeError(msg)


def _weave_now(
    target: str, pair: tuple[Any, str], advice: Advice, internal: bool, *, named: bool
) -> Weaving:
    with _lock:
        existing = _find_at(pair, advice) or (_find_target(target, advice) if named else None)
        if existing is not None:
            return existing
        weaving = Weaving(target, advice, None if named else pair, internal)
        _remember(weaving)
    try:
        _apply(weaving, *pair)
    except BaseException:
        with _lock:
            weaving._state = _UNWOVEN
            _forget(weaving)
        raise
    return weaving


def woven() -> list[Weaving]:
    """Every active weaving, in weave order: applied, pending, or failed on import."""
    with _lock:
        return [w for w in _weavings if not w._internal]


def unweave_all() -> None:
    """Unweave everything :func:`woven` lists, newest first, restoring every original.

    Internal weavings (the flow marks ``within=`` needs) are released by the
    advices holding them; those held by ``@emits``-decorated functions stay,
    as the functions do.
    """
    closing: list[Hook] = []
    with _lock:
        for weaving in reversed(list(_weavings)):
            if not weaving._internal and weaving._state != _UNWOVEN:
                closing += weaving._detach()
    _close(closing)


def refresh(function: Any = None) -> None:
    """Rebuild woven code after a change to what the hooks' gates read.

    :param function: only the slots whose hooks are bound to this function
        (a marker was set on it); None rebuilds every slot.
    """
    with _lock:
        if function is None:
            targets = [slot for slot in _slots.values() if slot.layers]
        else:
            targets = [slot for slot in _by_function.get(id(function), ()) if slot.layers]
        for slot in targets:
            slot.rebuild()
        if function is not None:
            _renew_decorated(function)


def _renew_decorated(function: Any) -> None:
    """Give an ``@emits`` function woven in place a switch built afresh.

    Its listening form and its gate were decided from its markers; a new
    switch decides them again, from the next call on.
    """
    switch = getattr(function, "__dict__", {}).get(_SWITCH)
    if not isinstance(switch, _codegen.Switch) or not switch.active:
        return
    recipe = switch.recipe
    renewed = _codegen.Switch(function, switch.idle, recipe.hooks[0].gate, recipe, owned=True)
    switch.detach()
    renewed.attach()
    function.__dict__[_SWITCH] = renewed


def slots() -> Iterator[tuple[Any, str, Any]]:
    """``(owner, attribute, original)`` of every woven attribute (for tests and tools)."""
    with _lock:
        found = [(s.owner, s.attribute, s.underlying()) for s in _slots.values()]
    yield from found


def original_of(obj: Any) -> Any:
    """The object a woven wrapper stands for (itself when it is not one of ours)."""
    slot = _by_installed.get(id(obj))
    if slot is None:
        return obj
    with _lock:
        if slot.installed is obj or slot.function is obj:
            return slot.underlying()
    return obj
