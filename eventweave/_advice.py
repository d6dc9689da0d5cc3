"""What a woven call emits: the signal advice, markers and muting."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from ._foreign import NAMES as _FOREIGN_NAMES
from ._foreign import view_of
from ._signals import Signal, send_lines
from ._weaving import (
    Advice,
    Frame,
    Hook,
    Site,
    enclosing,
    original_of,
    refresh,
    require_flow,
    woven,
)
from ._weaving._codegen import Inline, shape_of
from ._weaving._handles import decorate, decorated, is_async, parameters_of, signature_of
from ._weaving._importhook import when_loaded
from ._weaving._targets import WeaveError, describe, imported, parse_target, resolve, walk

__all__ = [
    "MASK",
    "RESERVED_NAMES",
    "SECRET_NAMES",
    "Call",
    "Emit",
    "emits",
    "is_muted",
    "is_silent",
    "mark",
    "muted",
    "silent",
    "trigger_instead",
    "triggered_action",
]

logger = logging.getLogger("eventweave")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

SECRET_NAMES: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "credential",
    }
)
"""Parameter names whose values are masked in everything sent.

A parameter is secret when its name, lower-cased and without underscores,
contains one of these (so ``newPassword``, ``client_secret`` and
``access_token`` are masked too)."""

MASK = "********"
"""What a masked value is replaced with."""

SHORTEST_SCRUBBED = 4
"""Secret values shorter than this are not scrubbed from free text (a message, a
header value): replacing every ``1`` or ``pw`` in it would garble the text and
point at the secret anyway. They are still masked where the structure names
them (a secret-named parameter, ``user:pw@`` in a URL)."""

RESERVED_NAMES: frozenset[str] = frozenset(
    {"sender", "signal", "instance", "method", "args", "kwargs", "result", "exception", "self"}
)
"""Names the signal arguments use (and ``self``, which ``send`` itself takes); parameters
of these names are not sent by name (they are still in ``args`` / ``kwargs``)."""

_SILENT = "_silent"  # the attribute nefertari.events.silent sets, honoured alike
_INSTEAD = "_event_action"  # the attribute nefertari.events.trigger_instead sets


# -- muting -------------------------------------------------------------------

_muted: contextvars.ContextVar[bool] = contextvars.ContextVar("eventweave_muted", default=False)


class _Runtime:
    """What woven code checks per call beyond its gate, in one attribute.

    ``rare`` is true while a ``muted()`` block is open in any thread or task,
    or once any class was marked silent: only then does woven code call
    :meth:`skip` to ask whether this call is muted or its sender silent.
    """

    __slots__ = ("blocks", "rare")

    def __init__(self) -> None:
        self.blocks = 0  # muted() blocks open, in every thread and task
        self.rare = False

    def changed(self) -> None:
        # caller holds _runtime_lock (or marks a class silent, which only adds)
        self.rare = bool(self.blocks or _silenced_classes)

    @staticmethod
    def skip(sender: Any) -> bool:
        """Whether a call from ``sender`` emits nothing: muted here, or a silent class."""
        if _muted.get():
            return True
        return bool(_silenced_classes) and bool(getattr(sender, _SILENT, False))


_runtime = _Runtime()
_runtime_lock = threading.Lock()


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Emit nothing inside this block, for the current thread or asyncio task only.

    Also usable as a decorator. Calls still run; only their events are dropped.
    """
    with _runtime_lock:
        _runtime.blocks += 1
        _runtime.changed()
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)
        with _runtime_lock:
            _runtime.blocks -= 1
            _runtime.changed()


def is_muted() -> bool:
    """Whether :func:`muted` is in force for the current thread or task."""
    return _muted.get()


# -- markers ------------------------------------------------------------------

# How many classes were ever marked silent: while none was, the per-call
# class check is skipped.
_silenced_classes: list[type] = []

# Objects that refuse attributes (builtins, slotted callables) keep their
# markers here, keyed by identity; the object is kept alive with them.
_foreign_marks: dict[int, tuple[Any, dict[str, Any]]] = {}


# @emits wrappers -> the function they decorate, which their hook reads
# markers from; weak, so that a decorated function can still be collected.
_decorated: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _marker_host(obj: Any) -> Any:
    # A woven classmethod/staticmethod is a new descriptor around the wrapper:
    # find the original descriptor first, then the function inside it.
    obj = original_of(obj)
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    obj = original_of(obj)
    try:
        return _decorated.get(obj, obj)
    except TypeError:  # neither hashable nor weakly referable: not one of ours
        return obj


def _set_marker(
    obj: Any, name: str, value: Any, journals: tuple[_Journal, ...] | None = None
) -> None:
    """Set marker ``name`` of ``obj``, recorded by ``journals`` (by default: those open)."""
    host = _marker_host(obj)
    if name == _SILENT:
        _silent_classes_seen.clear()
    for journal in _journals if journals is None else journals:
        journal.changes.append((host, name, *_raw_marker(host, name)))
    if isinstance(host, type) and name == _SILENT and value and host not in _silenced_classes:
        _silenced_classes.append(host)
        with _runtime_lock:
            _runtime.changed()
    if value is None:
        entry = _foreign_marks.get(id(host))
        if entry is not None:
            entry[1].pop(name, None)
            if not entry[1]:
                # emptied, so that woven calls skip the marker lookup again
                del _foreign_marks[id(host)]
        if name in getattr(host, "__dict__", {}):
            delattr(host, name)
        if isinstance(host, type) and name == _SILENT and getattr(host, name, False):
            setattr(host, name, False)  # a subclass of a silent class, un-silenced
    else:
        try:
            setattr(host, name, value)
        except (AttributeError, TypeError):
            _foreign_marks.setdefault(id(host), (host, {}))[1][name] = value
    refresh(host)  # the woven code of this function reads its markers


# -- undoing markers (eventweave.testing.isolated) ----------------------------

_ABSENT = object()


class _Journal:
    """The markers' previous states, recorded while an isolated block is open."""

    __slots__ = ("changes", "closed")

    def __init__(self) -> None:
        self.changes: list[tuple[Any, str, Any, Any]] = []
        self.closed = False


_journals: list[_Journal] = []


def _raw_marker(host: Any, name: str) -> tuple[Any, Any]:
    """The marker as stored: on the object itself, and in the foreign table."""
    own = getattr(host, "__dict__", {}).get(name, _ABSENT)
    entry = _foreign_marks.get(id(host))
    return own, (entry[1].get(name, _ABSENT) if entry is not None else _ABSENT)


def _put_raw_marker(host: Any, name: str, own: Any, foreign: Any) -> None:
    if name == _SILENT:
        _silent_classes_seen.clear()
    if own is _ABSENT:
        if name in getattr(host, "__dict__", {}):
            delattr(host, name)
    else:
        setattr(host, name, own)
    entry = _foreign_marks.get(id(host))
    if foreign is not _ABSENT:
        _foreign_marks.setdefault(id(host), (host, {}))[1][name] = foreign
    elif entry is not None:
        entry[1].pop(name, None)
        if not entry[1]:
            del _foreign_marks[id(host)]


def _record_marks() -> Callable[[], None]:
    """Record every marker set from now on; the function returned puts them back.

    Undoing restores each marked object exactly as it was (a subclass of a
    silent class stays silent by inheritance) and drops the marks still
    waiting for their module's import.
    """
    journal = _Journal()
    _journals.append(journal)

    def undo() -> None:
        if journal.closed:
            return
        journal.closed = True
        _journals.remove(journal)
        for host, name, own, foreign in reversed(journal.changes):
            _put_raw_marker(host, name, own, foreign)
        for host in {id(change[0]): change[0] for change in journal.changes}.values():
            refresh(host)  # only the woven code of what was marked reads these markers

    return undo


def _record_made() -> Callable[[], None]:
    """Note the weavings in force and record markers from now on; the function returned
    undoes what was made since: new weavings unwoven newest first, then the markers.

    Weaving again what was woven already returns the same weaving, which stays.
    ``eventweave.testing.isolated`` and the rehearsal of ``eventweave check`` undo
    through it.
    """
    before = woven()  # held, so that the ids below stay theirs
    known = {id(weaving) for weaving in before}
    undo_marks = _record_marks()

    def undo() -> None:
        try:
            for weaving in reversed(woven()):
                if id(weaving) not in known:
                    weaving.unweave()
        finally:
            undo_marks()
            before.clear()

    return undo


def _get_marker(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    if value is None and _foreign_marks:
        entry = _foreign_marks.get(id(obj))
        if entry is not None:
            value = entry[1].get(name)
    return value


# id(class) -> (the class, whether it is silent): asked per request by every
# instrumented view (about the view's class), where looking a missing
# attribute up a deep MRO costs microseconds. Emptied whenever any silent
# marker changes; the classes held are few and live as long as their module.
_silent_classes_seen: dict[int, tuple[type, bool]] = {}


def is_silent(obj: Any) -> bool:
    """Whether ``obj`` (a function, method or class) is marked silent."""
    if isinstance(obj, type):
        seen = _silent_classes_seen.get(id(obj))
        if seen is not None and seen[0] is obj:
            return seen[1]
        silent = bool(_get_marker(obj, _SILENT))
        if len(_silent_classes_seen) >= 4096:
            _silent_classes_seen.clear()
        _silent_classes_seen[id(obj)] = (obj, silent)
        return silent
    return bool(_get_marker(_marker_host(obj), _SILENT))


def triggered_action(obj: Any) -> str | None:
    """The action ``obj`` is marked to trigger instead of its own, if any."""
    value = _get_marker(_marker_host(obj), _INSTEAD)
    return value if isinstance(value, str) else None


def marker_host(obj: Any) -> Any:
    """What carries the markers of ``obj``: :func:`function_markers` reads them there.

    A hook asked about the same function on every call finds it once.
    """
    return _marker_host(obj)


def function_markers(host: Any) -> tuple[bool, str | None]:
    """Whether ``host`` (from :func:`marker_host`) is silent, and its triggered action."""
    silenced = getattr(host, _SILENT, None)
    instead = getattr(host, _INSTEAD, None)
    if _foreign_marks:
        entry = _foreign_marks.get(id(host))
        if entry is not None:
            if silenced is None:
                silenced = entry[1].get(_SILENT)
            if instead is None:
                instead = entry[1].get(_INSTEAD)
    return bool(silenced), instead if isinstance(instead, str) else None


def silent(obj: T) -> T:
    """Mark a function, method or class so that no events are emitted by it.

    A silent class silences its subclasses too. The object is returned
    unchanged, so this works as a decorator.
    """
    _set_marker(obj, _SILENT, True)
    return obj


def _check_action(action: Any) -> str:
    if not isinstance(action, str) or not action.isidentifier():
        msg = f"trigger_instead() takes an action name such as 'update' or 'modify', got {action!r}"
        raise ValueError(msg)
    return action


def trigger_instead(action: str) -> Callable[[F], F]:
    """Make the decorated method emit the events of ``action`` instead of its own.

    :param action: a REST action (``"update"``…), a Vidispine family
        (``"create"``, ``"modify"``, ``"delete"``, ``"get"``) or an auth step.
    """
    _check_action(action)

    def decorate(function: F) -> F:
        _set_marker(function, _INSTEAD, action)
        return function

    return decorate


def mark(
    target: str | tuple[Any, str],
    *,
    silent: bool | None = None,
    trigger_instead: str | bool | None = None,
) -> None:
    """Apply :func:`silent` or :func:`trigger_instead` to code you cannot edit.

    :param target: ``"package.module:Qual.name"`` (marked when the module is
        imported, or at once) or an ``(owner, "attribute")`` pair; a function,
        method or class.
    :param silent: True to silence, False to remove the marker.
    :param trigger_instead: an action name, or False to remove the marker.

    Markers set before or after weaving are honoured from the next call on.
    """
    if silent is None and trigger_instead is None:
        msg = "mark() needs silent=True/False or trigger_instead='action'/False"
        raise TypeError(msg)
    if trigger_instead not in (None, False):
        _check_action(trigger_instead)

    def apply(obj: Any, journals: tuple[_Journal, ...] | None = None) -> None:
        if silent is not None:
            _set_marker(obj, _SILENT, True if silent else None, journals)
        if trigger_instead is not None:
            _set_marker(obj, _INSTEAD, trigger_instead or None, journals)

    if isinstance(target, tuple):
        owner, attribute = target
        apply(_raw_attribute(describe(owner, attribute), owner, attribute))
        return
    module_name, path = parse_target(target)
    module = imported(module_name)
    if module is not None:
        apply(_resolve_marked(target, module, path))
        return

    recording = tuple(_journals)

    def on_import(module: types.ModuleType) -> None:
        if any(journal.closed for journal in recording):
            return  # made inside an isolated block that has ended since
        try:
            # Only the blocks open when mark() was called undo it: a block opened
            # since (a test importing the module of a start-up plan's marker) keeps it.
            apply(_resolve_marked(target, module, path), recording)
        except WeaveError as exc:
            logger.error("%s (marker not applied)", exc)

    when_loaded(module_name, on_import)


def _raw_attribute(target: str, owner: Any, attribute: str) -> Any:
    # What weaving would wrap: the function in the defining class's __dict__,
    # not a bound method made afresh on each getattr.
    return resolve(target, owner, attribute).value


def _resolve_marked(target: str, module: types.ModuleType, path: list[str]) -> Any:
    owner, attribute = walk(target, module, path)
    return _raw_attribute(target, owner, attribute)


# -- the signal advice --------------------------------------------------------


class Call:
    """A woven call, as the callables given to :class:`Emit` see it.

    :ivar self: the instance (or class) the method was called on, else None.
    :ivar args: positional parameter values after ``self`` (and ``*args``).
    :ivar kwargs: keyword-only parameter values (and ``**kwargs``).
    :ivar arguments: every parameter by name, unmasked.
    :ivar flow: the enclosing call of the ``within=`` target, if any.
    :ivar phase: ``"pre"``, ``"post"`` or ``"error"``: which signal is being built.
    :ivar instance: the instance the pre signal sent (None during pre), so an
        ``instance=`` callable can keep in post what it saw before the call.
    :ivar result: the return value (post only).
    :ivar exception: the exception raised (error only).
    """

    __slots__ = (
        "args",
        "arguments",
        "exception",
        "flow",
        "instance",
        "kwargs",
        "phase",
        "result",
        "self",
    )

    def __init__(
        self,
        self_: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        arguments: dict[str, Any],
        flow: Frame | None,
    ) -> None:
        self.self = self_
        self.args = args
        self.kwargs = kwargs
        self.arguments = arguments
        self.flow = flow
        self.phase = "pre"
        self.instance: Any = None
        self.result: Any = None
        self.exception: BaseException | None = None


@functools.lru_cache(maxsize=1024)
def is_secret(name: str, redact: frozenset[str]) -> bool:
    """Whether a parameter called ``name`` is masked under the ``redact`` names.

    Cached: it runs per call for ``**kwargs`` keys, query strings and bodies.
    """
    folded = name.lower().replace("_", "").replace("-", "")  # X-Api-Key, api_key, apiKey
    return any(secret.replace("_", "") in folded for secret in redact)


def _check_signal(role: str, signal: Any) -> Any:
    if signal is not None and not callable(getattr(signal, "send", None)):
        msg = f"{role}= must be a signal (an object with .send(sender, **named)), got {signal!r}"
        raise TypeError(msg)
    return signal


def _within_keys(within: Any) -> tuple[str, ...]:
    if within is None:
        return ()
    items = within if isinstance(within, (list, tuple)) and not _is_pair(within) else [within]
    keys = []
    for item in items:
        if isinstance(item, str):
            parse_target(item)
            keys.append(item)
        elif _is_pair(item):
            keys.append(describe(*item))
        else:
            msg = (
                "within= takes a target string or (owner, 'attribute') pair, or a list of them, "
                f"got {item!r}"
            )
            raise TypeError(msg)
    return tuple(keys)


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[1], str)
        and not isinstance(value[0], str)
    )


class Emit(Advice):
    """The generic signal advice: send signals before, after, or when a call fails.

    :param pre: sent before the call as ``send(sender, instance=..., method=NAME,
        args=TUPLE, kwargs=DICT, **bound_parameters)``. A receiver that raises
        vetoes the call: the exception propagates and the target does not run.
    :param post: the same plus ``result=``, after a successful call.
    :param error: the same plus ``exception=`` when the call raises an
        :class:`Exception`; the exception is then re-raised unchanged (the
        error signal's own receivers' failures are logged, never raised).
    :param sender: what is sent as ``sender``: by default the runtime class of
        ``self``, ``cls`` for classmethods, the owner for plain functions; or
        a callable taking a :class:`Call`, or a fixed object.
    :param instance: what is sent as ``instance``: a parameter name,
        ``"self"``, ``"result"`` (None in pre), or a callable taking a
        :class:`Call`; by default the first parameter after ``self``, or None.
    :param action: the action this call stands for (``"create"``…), for advices
        that can emit another action's signals (see :func:`trigger_instead`).
    :param within: a target (or list of targets): emit only while a call to it
        is in progress in this thread or task.
    :param robust: log receivers' exceptions instead of raising them.
    :param redact: names whose values are masked (:data:`SECRET_NAMES`);
        ``redact=()`` sends everything as is.
    """

    def __init__(
        self,
        pre: Any = None,
        post: Any = None,
        error: Any = None,
        *,
        sender: Any = None,
        instance: str | Callable[[Call], Any] | None = None,
        action: str | None = None,
        within: Any = None,
        robust: bool = False,
        redact: frozenset[str] | tuple[str, ...] | set[str] = SECRET_NAMES,
    ) -> None:
        self.pre = _check_signal("pre", pre)
        self.post = _check_signal("post", post)
        self.error = _check_signal("error", error)
        if instance is not None and not isinstance(instance, str) and not callable(instance):
            msg = "instance= takes a parameter name, 'self', 'result' or a callable"
            msg += f", got {instance!r}"
            raise TypeError(msg)
        self.sender = sender
        self.instance = instance
        self.action = action
        self.within = _within_keys(within)
        self.robust = bool(robust)
        self.redact = frozenset(redact)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("pre", "post", "error"):
            # A signal set late (a plan's, when bound): the gate kept for the
            # ones before goes with them, and does not keep them alive.
            self.__dict__.pop("_own_gate", None)
        object.__setattr__(self, name, value)

    def _key(self) -> tuple[Any, ...]:
        return (
            type(self),
            id(self.pre),
            id(self.post),
            id(self.error),
            self.sender if callable(self.sender) else id(self.sender),
            self.instance,
            self.action,
            self.within,
            self.robust,
            self.redact,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Emit) and self._key() == other._key()

    def __hash__(self) -> int:
        # An advice is not changed once made; weaving hashes it twice per target.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash(self._key())
        return cached

    def __repr__(self) -> str:
        parts = [
            f"{role}={_name(sig)}"
            for role, sig in (("pre", self.pre), ("post", self.post), ("error", self.error))
            if sig is not None
        ]
        if self.within:
            parts.append(f"within={list(self.within)}")
        if self.action:
            parts.append(f"action={self.action!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def signals_for(self, action: str) -> tuple[Any, Any, Any] | None:
        """The ``(pre, post, error)`` signals of another action, for :func:`trigger_instead`.

        The generic advice knows no other actions and keeps its own signals;
        domain advices override this.
        """
        return None

    def signals(self) -> tuple[Any, ...]:
        """Every signal this advice may send."""
        return tuple(s for s in (self.pre, self.post, self.error) if s is not None)

    def _gate(self) -> tuple[Any, ...] | None:
        """The gate of :meth:`signals`.

        Kept while ``pre``/``post``/``error`` stay the same objects (an advice
        may set them late: a plan's, when bound) and are eventweave's own
        signals; a foreign signal's gate, or that of a subclass's own
        :meth:`signals`, is decided again each time.
        """
        # Each read once: another thread setting a signal meanwhile must not
        # leave a gate kept under signals it was not made from.
        pre, post, error = self.pre, self.post, self.error
        kept = self.__dict__.get("_own_gate")
        if kept is not None and kept[0] is pre and kept[1] is post and kept[2] is error:
            return kept[3]  # type: ignore[no-any-return]
        if type(self).signals is not Emit.signals:
            self.__dict__.pop("_own_gate", None)
            return _gate_of(self.signals())
        signals = tuple(s for s in (pre, post, error) if s is not None)
        gate = _gate_of(signals)
        if all(type(s) is Signal for s in signals):
            self.__dict__["_own_gate"] = (pre, post, error, gate)
        else:  # nor keeps signals set before alive
            self.__dict__.pop("_own_gate", None)
        return gate

    def bind(self, site: Site) -> Hook:
        return _EmitHook(self, site)


def _name(signal: Any) -> str:
    return getattr(signal, "name", None) or f"<{type(signal).__name__} at {id(signal):#x}>"


def _gate_of(signals: tuple[Any, ...]) -> tuple[Any, ...] | None:
    for signal in signals:
        if isinstance(signal, Signal):
            continue
        receivers = getattr(signal, "receivers", None)
        if not isinstance(receivers, (tuple, list, dict)):
            return None  # cannot tell cheaply whether it listens: always send
    return signals


def _gate_of_hook(hook: Hook) -> Callable[[], tuple[Any, ...] | None]:
    # Held by the flow mark of another target: a weak reference, so that the
    # mark never keeps an @emits-decorated function (the hook's site) alive.
    ref = weakref.ref(hook)

    def gate() -> tuple[Any, ...] | None:
        alive = ref()
        return alive.gate if alive is not None else ()

    return gate


class _EmitHook(Hook):
    """:class:`Emit` bound to one target.

    ``before``/``after``/``error`` are closures built once, when someone
    first listens (:meth:`prepare`, or the listening form asking for
    :attr:`spec`), with every decision that does not depend on the call
    already taken (sender rule, instance rule, masking, reserved names),
    because this path is measured against the events written by hand.
    """

    def __init__(self, advice: Emit, site: Site) -> None:
        self.advice = advice
        self.site = site
        self.function = site.function
        self.release = (
            require_flow_all(advice.within, _gate_of_hook(self)) if advice.within else None
        )
        _check_instance(advice, site)  # now: a bad instance= fails the weave, not a call

    @functools.cached_property
    def spec(self) -> types.SimpleNamespace:
        """The closures and decisions of this hook, built on first need.

        Weaving many targets nobody listens to builds none of them: the
        listening form asks for them when someone connects.
        """
        spec = _build_emit(self.advice, self.site)
        # Instance attributes from now on, shadowing the lazy lookups below.
        self.before, self.after, self.error = spec.before, spec.after, spec.error  # type: ignore[method-assign]
        return spec

    def prepare(self) -> None:
        self.spec  # noqa: B018 - builds the closures, which then shadow the methods below

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        return self.spec.before(self_, args, kwargs, named)

    def after(self, state: Any, result: Any) -> Any:
        return self.spec.after(state, result)

    def error(self, state: Any, exception: BaseException) -> None:
        self.spec.error(state, exception)

    @property
    def gate(self) -> tuple[Any, ...] | None:
        instead = _get_marker(self.function, _INSTEAD)
        if instead:
            other = self.advice.signals_for(instead)
            if other is not None:
                return _gate_of(tuple(s for s in other if s is not None))
        return self.advice._gate()

    def close(self) -> None:
        if self.release is not None:
            self.release()
        super().close()

    def inline(self, ctx: Inline) -> tuple[dict[str, Any], list[str]] | None:
        """Write the common case straight into the listening form (see :class:`Inline`).

        What a person would write by hand: for each of eventweave's own
        signals, a literal ``for receiver in receivers: receiver(signal=pre,
        sender=cls, instance=x, method="pay", ...)`` loop over the flat tuple
        the signal publishes (no ``send()`` call, no ``**payload`` unpacking);
        ``send()`` itself when the signal has receivers for particular senders,
        async receivers or weak bound methods, and for foreign signals. Calls
        needing run-time decisions (markers, ``within=``, ``**kwargs``,
        callables, ``robust=``, secret ``*args``) take the generic path.
        """
        spec = self.spec
        if spec.within or ctx.varkw or spec.needs_call or spec.secret_varargs:
            return None
        if _get_marker(self.function, _SILENT) or _get_marker(self.function, _INSTEAD):
            return None  # honoured by the generic path; set again, the code is rebuilt
        site = self.site
        pre, post, err = spec.own
        secret = spec.secret_params
        positional = spec.positional
        advice = self.advice
        # Names used on every call are bound to locals; the rest are reached
        # through an attribute of a constant only when needed (``_ew_rt.skip``,
        # ``_ew_errs.send``), so they cost nothing per call.
        constants: dict[str, Any] = {
            "_ew_rt": _runtime,
            "_ew_pre": pre,
            "_ew_post": post,
            "_ew_errs": types.SimpleNamespace(send=err),
            "_ew_presig": advice.pre,
            "_ew_postsig": advice.post,
            "_ew_MASK": MASK,
        }

        def value(name: str) -> str:
            return "_ew_MASK" if name in secret else name

        call, self_expr = ctx.call, ctx.self_expr
        fixed: Any = None
        if spec.fixed_sender is not None:
            fixed = constants["_ew_fixed"] = spec.fixed_sender
            sender = "_ew_fixed"
        elif site.kind == "method" and self_expr != "None":
            sender = f"_ew_type({self_expr})"
        elif site.kind == "classmethod" and self_expr != "None":
            sender = self_expr
        elif site.kind == "auto" and self_expr != "None":
            sender = (
                f"({self_expr} if _ew_isinstance({self_expr}, _ew_type) else _ew_type({self_expr}))"
            )
        else:
            fixed = constants["_ew_fixed"] = site.sender_of(None)
            sender = "_ew_fixed"
        if ctx.weak and fixed is not None and not isinstance(fixed, types.ModuleType):
            return None  # it may lead back to the function: the generic path holds it

        args_items = [value(n) for n in positional]
        if ctx.varargs:
            args_items.append(f"*{ctx.varargs}")
        args = "(" + "".join(f"{item}, " for item in args_items) + ")"
        kwonly = [n for n, _ in ctx.named if n not in positional]
        kwargs = "{" + ", ".join(f"{n!r}: {value(n)}" for n in kwonly) + "}"
        named = [n for n, _ in ctx.named]
        if ctx.varargs:
            named.append(ctx.varargs)
        by_name = "".join(f", {n}={value(n)}" for n in named if n not in RESERVED_NAMES)

        mode, arg = spec.instance_mode, spec.instance_arg
        if mode == "param":
            instance = value(arg)
        elif mode == "self":
            instance = self_expr
        else:
            instance = "None"
        post_instance = "_ew_r" if mode == "result" else instance
        constants["_ew_method"] = site.name
        common = f"method=_ew_method, args=_ew_a, kwargs=_ew_k{by_name}"

        def emit(
            signal: Any, sig: str, send: str, arguments: str, *, last: bool = False
        ) -> list[str]:
            if advice.robust:
                return [f"{send}(_ew_snd, {arguments})"]
            if isinstance(signal, Signal):
                return send_lines(sig, "_ew_snd", arguments, last=last)
            # Django's or blinker's send, run as that library runs it; else
            # the signal's send, looked up at the call as code written by
            # hand does (a test may patch it).
            view = view_of(signal)
            lines = None
            if view is not None:
                lines = view.lines(f"{sig}_view", sig, "_ew_snd", arguments)
            if lines is None:
                return [f"{sig}.send(_ew_snd, {arguments})"]
            constants[f"{sig}_view"] = view
            constants.update(_FOREIGN_NAMES)
            return lines

        lines = [
            f"_ew_snd = {sender}",
            "if _ew_rt.rare and _ew_rt.skip(_ew_snd):",
            f"    return {call}",
            f"_ew_a = {args}",
            f"_ew_k = {kwargs}",
        ]
        if pre is not None:
            lines += emit(advice.pre, "_ew_presig", "_ew_pre", f"instance={instance}, {common}")
        if err is not None:
            lines += [
                "try:",
                f"    _ew_r = {call}",
                "except _ew_Exception as _ew_x:",
                f"    _ew_errs.send(_ew_snd, instance={instance}, {common}, exception=_ew_x)",
                "    raise",
            ]
        else:
            lines.append(f"_ew_r = {call}")
        if post is not None:
            lines += emit(
                advice.post,
                "_ew_postsig",
                "_ew_post",
                f"instance={post_instance}, {common}, result=_ew_r",
                last=True,
            )
        lines.append("return _ew_r")
        return constants, lines


_RESERVED_SEND = frozenset({"sender", "signal", "result", "exception", "self"})


def _check_instance(advice: Emit, site: Site) -> None:
    rule = advice.instance
    params = site.parameters
    if (
        isinstance(rule, str)
        and rule not in ("self", "result")
        and params
        and rule not in params
        and not _has_varkw(site.function)
    ):
        msg = f"instance={rule!r} is not a parameter of it; it takes {', '.join(params)}"
        raise WeaveError(site.target, msg)


def _build_emit(advice: Emit, site: Site) -> types.SimpleNamespace:
    function = site.function
    method = site.name
    params = site.parameters
    has_varkw = _has_varkw(function)
    redact = advice.redact
    secret_params = frozenset(p for p in params if is_secret(p, redact)) if redact else frozenset()
    positional = _positional_after_self(site)
    secret_positions = tuple(i for i, p in enumerate(positional) if p in secret_params)
    varargs = _varargs_name(function)
    # values of *args named like a secret (*passwords) are masked in args too
    secret_varargs = varargs is not None and varargs in secret_params
    drop = frozenset(params) & _RESERVED_SEND
    scrub = bool(drop or secret_params or has_varkw)
    within = advice.within
    robust = advice.robust
    kind = site.kind
    fixed_sender = advice.sender
    sender_call = callable(fixed_sender) and not isinstance(fixed_sender, type)

    instance_rule = advice.instance
    instance_arg: Any
    if instance_rule is None:
        instance_mode, instance_arg = (
            ("param", params[0]) if params and positional else ("none", None)
        )
    elif callable(instance_rule):
        instance_mode, instance_arg = "call", instance_rule
    elif instance_rule in ("self", "result"):
        instance_mode, instance_arg = instance_rule, None
    else:
        instance_mode, instance_arg = "param", instance_rule
    needs_call = instance_mode == "call" or sender_call
    masked_instance = instance_mode == "param" and instance_arg in secret_params

    def sending(signal: Any) -> Any:
        if signal is None:
            return None
        if not robust:
            return signal.send
        send_robust = getattr(signal, "send_robust", None)
        if send_robust is not None:
            return send_robust  # logs each failing receiver itself

        def send(sender: Any, **named: Any) -> Any:
            try:
                return signal.send(sender, **named)
            except Exception:
                logger.exception("a receiver of %s raised (ignored: robust=True)", _name(signal))
                return []

        return send

    def report(signal: Any) -> Any:
        # The caller must get the original exception unchanged, so a failing
        # error receiver is logged rather than raised over it.
        if signal is None:
            return None

        def send(sender: Any, **named: Any) -> None:
            try:
                signal.send(sender, **named)
            except Exception:
                logger.exception(
                    "a receiver of %s raised while reporting %r",
                    _name(signal),
                    named.get("exception"),
                )

        return send

    own = (sending(advice.pre), sending(advice.post), report(advice.error))
    redirects: dict[str, tuple[Any, Any, Any]] = {}

    def senders_for(action: str) -> tuple[Any, Any, Any]:
        found = redirects.get(action)
        if found is None:
            other = advice.signals_for(action)
            found = (
                own if other is None else (sending(other[0]), sending(other[1]), report(other[2]))
            )
            redirects[action] = found
        return found

    muted_get = _muted.get
    runtime = _runtime
    marks = getattr(function, "__dict__", None)
    if marks is None:
        marks = {}
    SILENT, INSTEAD = _SILENT, _INSTEAD

    def scrubbed(
        args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> tuple[Any, Any, Any]:
        if secret_positions or secret_varargs:
            masked = list(args)
            for index in secret_positions:
                if index < len(masked):
                    masked[index] = MASK
            if secret_varargs:
                masked[len(positional) :] = [MASK] * (len(masked) - len(positional))
            args = tuple(masked)
        if redact and kwargs:
            kwargs = {k: (MASK if is_secret(k, redact) else v) for k, v in kwargs.items()}
        clean = {}
        for key, value in named.items():
            if key in _RESERVED_SEND:
                continue
            if redact and (key in secret_params or (has_varkw and is_secret(key, redact))):
                value = MASK
            clean[key] = value
        return args, kwargs, clean

    def before(
        self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        if runtime.blocks and muted_get():
            return None
        pre, post, err = own
        if marks or _foreign_marks:
            if _get_marker(function, SILENT):
                return None
            instead = _get_marker(function, INSTEAD)
            if instead:
                pre, post, err = senders_for(instead)
        flow = None
        if within:
            flow = enclosing(within)
            if flow is None:
                return None
        call = Call(self_, args, kwargs, named, flow) if needs_call else None
        if fixed_sender is None:
            if kind == "method":
                sender = type(self_)
            elif kind == "classmethod":
                sender = self_
            else:
                sender = site.sender_of(self_)
        elif sender_call:
            sender = fixed_sender(call)
        else:
            sender = fixed_sender
        if _silenced_classes and getattr(sender, SILENT, False):
            return None
        if instance_mode == "param":
            instance = named.get(instance_arg)
            if masked_instance:
                instance = MASK
        elif instance_mode == "none" or instance_mode == "result":
            instance = None
        elif instance_mode == "self":
            instance = self_
        else:
            assert call is not None  # the "call" instance rule always makes one
            instance = call.instance = instance_arg(call)
        if scrub:
            args, kwargs, named = scrubbed(args, kwargs, named)
        payload = {**named, "instance": instance, "method": method, "args": args, "kwargs": kwargs}
        if pre is not None:
            pre(sender, **payload)
        return (sender, payload, post, err, call)

    if instance_mode == "result":

        def after(state: Any, result: Any) -> Any:
            if state is not None and state[2] is not None:
                payload = state[1]
                payload["instance"] = result
                state[2](state[0], result=result, **payload)
            return result

    elif instance_mode == "call":

        def after(state: Any, result: Any) -> Any:
            if state is not None and state[2] is not None:
                call, payload = state[4], state[1]
                call.phase, call.result = "post", result
                payload["instance"] = instance_arg(call)
                state[2](state[0], result=result, **payload)
            return result

    else:

        def after(state: Any, result: Any) -> Any:
            if state is not None and state[2] is not None:
                state[2](state[0], result=result, **state[1])
            return result

    def error(state: Any, exception: BaseException) -> None:
        if state is None or state[3] is None or not isinstance(exception, Exception):
            return
        payload = state[1]
        if instance_mode == "call":
            call = state[4]
            call.phase, call.exception = "error", exception
            payload["instance"] = instance_arg(call)
        state[3](state[0], exception=exception, **payload)

    return types.SimpleNamespace(
        before=before,
        after=after,
        error=error,
        own=own,
        within=within,
        needs_call=needs_call,
        secret_params=secret_params,
        secret_varargs=secret_varargs,
        positional=positional,
        marks=marks,
        fixed_sender=None if sender_call else fixed_sender,
        instance_mode=instance_mode,
        instance_arg=instance_arg,
    )


def require_flow_all(
    keys: tuple[str, ...], gate: Callable[[], tuple[Any, ...] | None]
) -> Callable[[], None]:
    releases: list[Callable[[], None]] = []
    try:
        for key in keys:
            releases.append(require_flow(key, gate))
    except BaseException:
        # a later target failed to resolve: the weave fails, so no mark may stay
        for undo in releases:
            undo()
        raise

    def release() -> None:
        for undo in releases:
            undo()

    return release


def _varargs_name(function: Any) -> str | None:
    if type(function) is types.FunctionType:
        return shape_of(function).varargs
    signature = signature_of(function)
    if signature is None:
        return None
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return name
    return None


def _has_varkw(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    if code is not None:
        return bool(code.co_flags & inspect.CO_VARKEYWORDS)
    try:
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True


def _positional_after_self(site: Site) -> tuple[str, ...]:
    code = getattr(site.function, "__code__", None)
    if (
        type(site.function) is types.FunctionType
        and code is not None
        and not decorated(site.function)
    ):
        names = code.co_varnames[: code.co_argcount]
        if site.kind in ("method", "classmethod", "auto"):
            names = names[1:]
        return tuple(names)
    signature = signature_of(site.function)
    if signature is None:
        return ()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = tuple(n for n, p in signature.parameters.items() if p.kind in positional)
    # site.parameters leaves out what the call binds (self of a C method)
    if names and site.parameters and names[0] not in site.parameters:
        names = names[1:]
    return names


# -- the decorator form -------------------------------------------------------


def emits(pre: Any = None, post: Any = None, error: Any = None, **options: Any) -> Callable[[F], F]:
    """Decorate new code with the :class:`Emit` advice.

    ``@emits(pre=..., post=..., error=..., **options)`` takes the same
    arguments as :class:`Emit`. On a method (a function in a class body whose
    first parameter is ``self`` or ``cls``) the sender is the runtime class of
    ``self``, or ``cls``; on a module function, a static method, or any other
    function, the module (the class does not exist yet when the decorator
    runs). Stacks with ``@classmethod`` / ``@staticmethod`` in either order.
    """
    advice = Emit(pre, post, error, **options)

    def decorate(obj: F) -> F:
        wrapped = _decorate(obj, advice)
        return wrapped  # type: ignore[no-any-return]

    return decorate


def _decorate(obj: Any, advice: Emit) -> Any:
    if isinstance(obj, classmethod):
        return classmethod(_decorate_function(obj.__func__, advice, "classmethod"))
    if isinstance(obj, staticmethod):
        return staticmethod(_decorate_function(obj.__func__, advice, "staticmethod"))
    qualname = getattr(obj, "__qualname__", "")
    head = qualname.rpartition(".")[0]
    in_class = bool(head) and not head.endswith("<locals>")
    # The class does not exist yet when the decorator runs, and a
    # @staticmethod applied over it later is invisible from here: only the
    # conventional first parameter name tells a method from a static function.
    kind = "auto" if in_class and _first_parameter(obj) in _SELF_NAMES else "function"
    return _decorate_function(obj, advice, kind)


_SELF_NAMES = frozenset({"self", "cls", "mcs", "metacls"})


def _first_parameter(function: Any) -> str | None:
    if type(function) is types.FunctionType:
        code = function.__code__
        return code.co_varnames[0] if code.co_argcount else None
    signature = signature_of(function)
    return next(iter(signature.parameters), None) if signature is not None else None


def _decorate_function(function: Any, advice: Emit, kind: str) -> Any:
    if not callable(function):
        msg = f"@emits decorates a function or method, got {function!r}"
        raise TypeError(msg)
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    qualname = getattr(function, "__qualname__", repr(function))
    target = f"{getattr(function, '__module__', '?')}:{qualname}"
    if type(function) is types.FunctionType and not decorated(function):
        names = shape_of(function).names
        first = function.__code__.co_argcount > 0
        parameters = names[1:] if kind in ("auto", "classmethod") and first else names
    else:
        parameters = parameters_of(kind, function)
    site = Site(
        target=target,
        owner=module,
        name=getattr(function, "__name__", "?"),
        kind=kind,
        function=function,
        parameters=parameters,
        is_async=is_async(function),
    )
    hook = advice.bind(site)
    wrapper, _undo = decorate(function, hook, kind, target)
    if wrapper is not function:
        functools.update_wrapper(wrapper, function)
    release = getattr(hook, "release", None)
    if release is not None:
        # The flow mark within= put on another target is needed as long as the
        # decorated function lives (unweave_all() leaves it), and no longer.
        # (The finalizer holds only the release, never the function.)
        weakref.finalize(wrapper, release).atexit = False
    if wrapper is not function:
        with contextlib.suppress(TypeError):
            _decorated[wrapper] = function
    return wrapper


def _mapping_or_module(obj: Any, names: tuple[str, ...], what: str) -> dict[str, Any]:
    """Read signals named ``names`` from a module, object or mapping (the ``signals=`` option)."""
    found: dict[str, Any] = {}
    missing = []
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is None:
            missing.append(name)
        else:
            found[name] = _check_signal(name, value)
    if missing:
        msg = (
            f"signals= for {what} lacks {', '.join(missing)}; "
            f"it must hold signals named {', '.join(names)}"
        )
        raise TypeError(msg)
    return found
