"""The seam between weaving (where code is wrapped) and advice (what it emits).

An :class:`Advice` is bound once per woven target into a :class:`Hook`. The
generated wrapper then calls the hook's three methods with values it already
has in its locals, so nothing is inspected per call:

``before(self_, args, kwargs, named) -> state``
    before the target runs; raising vetoes the call.
``after(state, result) -> result``
    after it returned; the value returned is what the caller gets.
``error(state, exception) -> None``
    when it raised (or a later layer vetoed); the exception is re-raised.

``self_`` is the first positional argument for methods and classmethods (the
instance or the class), None otherwise. ``args`` holds the positional
parameters after it (plus ``*args``), ``kwargs`` the keyword-only ones (plus
``**kwargs``), and ``named`` every parameter by name (``**kwargs`` expanded),
so ``target(self_, *args, **kwargs)`` repeats the call.

A hook's ``gate`` is what the wrapper tests before doing any of this: a tuple
of objects whose ``receivers`` attribute is falsy when nobody listens (an
eventweave, Django or blinker signal, an ``EventRegistry``), or None when the
hook cannot tell and must always run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Advice", "Hook", "Later", "Site"]


@dataclass(frozen=True, slots=True)
class Site:
    """What a hook knows about the callable it is bound to.

    :ivar target: the target string (``"pkg.mod:Class.method"``).
    :ivar owner: the module, class or object holding the attribute.
    :ivar name: the attribute name (the method name sent as ``method=``).
    :ivar kind: ``"method"``, ``"classmethod"``, ``"staticmethod"``, ``"function"``
        (on a module, or an object's own attribute: nothing binds it), or
        ``"callable"`` (anything else the generated wrapper cannot specialise;
        when it binds like a method, ``self_`` is the object it is bound to).
    :ivar function: the underlying callable (``__func__`` of a classmethod).
    :ivar parameters: parameter names after ``self``/``cls``, in order.
    :ivar is_async: whether the target is a coroutine function.
    :ivar key: identity of the woven location, used by control-flow conditions.
    """

    target: str
    owner: Any
    name: str
    kind: str
    function: Any
    parameters: tuple[str, ...]
    is_async: bool
    key: Any = field(default=None, compare=False)

    def sender_of(self, self_: Any) -> Any:
        """The default ``sender`` for a call whose first argument is ``self_``."""
        if self.kind == "method":
            return type(self_) if self_ is not None else self.owner
        if self.kind == "classmethod":
            return self_ if self_ is not None else self.owner
        if self.kind in ("auto", "callable") and self_ is not None:
            # a method whose kind is only known per call: bound to an object
            # or, for a classmethod, to a class
            return self_ if isinstance(self_, type) else type(self_)
        if self.kind == "auto":
            return self.owner
        if isinstance(self.owner, type) or _is_module(self.owner):
            return self.owner
        return type(self.owner)


def _is_module(obj: Any) -> bool:
    return type(obj).__name__ == "module"


class Hook:
    """A bound advice: what one woven target does around each call."""

    #: Outermost hooks enter before and leave after all the others (in nested
    #: order); the others run each phase in weave order.
    outermost = False

    @property
    def gate(self) -> tuple[Any, ...] | None:
        """Objects whose ``receivers`` say whether anyone listens; None: always run."""
        return None

    def prepare(self) -> None:
        """Called before the engine takes ``before``/``after``/``error`` for its calls.

        A hook that builds what it runs lazily (when someone first listens)
        builds it here, so that the engine holds the built callables rather
        than methods that look them up on every call.
        """

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        return None

    def after(self, state: Any, result: Any) -> Any:
        return result

    def error(self, state: Any, exception: BaseException) -> None:
        return None

    def close(self) -> None:
        """Release what :meth:`Advice.bind` acquired (called when unwoven).

        Subclasses that override it call ``super().close()``.
        """
        for callback in reversed(getattr(self, "_on_close", ())):
            callback()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when this hook is closed (an advice subclass's cleanup)."""
        closers: list[Callable[[], None]] = self.__dict__.setdefault("_on_close", [])
        closers.append(callback)


class Advice:
    """Says what a woven call does besides calling the target.

    Subclasses implement :meth:`bind`, and define equality so that weaving the
    same target twice with equal advices is recognised as the same weaving.
    """

    def bind(self, site: Site) -> Hook:
        raise NotImplementedError


class Later(Exception):
    """Raised by :meth:`Advice.bind`: it can bind only once ``module`` has finished importing.

    The weaving stays pending and is applied when that module's import ends
    (in whichever thread imports it). An advice that needs objects from
    another module (a plan's signals) raises it rather than import a module
    another thread is importing right now: from inside an import, that would
    make the two imports wait on each other.

    :ivar module: the module to wait for.
    """

    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(f"waiting for module {module!r} to finish importing")
