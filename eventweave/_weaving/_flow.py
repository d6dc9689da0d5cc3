"""Control flow: "inside a call to that other woven target" (AspectJ's cflow).

An advice given ``within=T`` asks for a *flow mark* on ``T``: an internal
weaving that records, for the current thread or asyncio task, that a call to
``T`` is in progress. The advice then emits only while such a frame is open,
and can read who opened it (the view handling the request, say).

A flow mark costs nothing while the advices depending on it have nobody
listening: its gate is the union of theirs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from ._handles import Weaving, weave
from ._hooks import Advice, Hook, Site

__all__ = ["Frame", "enclosing", "require_flow"]


class Frame:
    """An open call to a flow-marked target.

    :ivar key: the marked target string.
    :ivar self: the call's ``self`` (or ``cls``), None for functions.
    :ivar sender: the sender that call would have: the runtime class of ``self``.
    :ivar arguments: the call's parameters by name.
    """

    __slots__ = ("arguments", "key", "self", "sender")

    def __init__(self, key: str, self_: Any, sender: Any, arguments: dict[str, Any]) -> None:
        self.key = key
        self.self = self_
        self.sender = sender
        self.arguments = arguments

    def __repr__(self) -> str:
        return f"<Frame {self.key} sender={self.sender!r}>"


_frames: contextvars.ContextVar[tuple[Frame, ...]] = contextvars.ContextVar(
    "eventweave_flow", default=()
)


def enclosing(keys: tuple[str, ...]) -> Frame | None:
    """The innermost open frame of any of ``keys`` in this thread/task, else None."""
    for frame in reversed(_frames.get()):
        if frame.key in keys:
            return frame
    return None


class _FlowMark(Advice):
    def __init__(self, key: str) -> None:
        self.key = key
        self.gates: list[Callable[[], tuple[Any, ...] | None]] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FlowMark) and other.key == self.key

    def __hash__(self) -> int:
        return hash((_FlowMark, self.key))

    def __repr__(self) -> str:
        return f"<flow mark {self.key}>"

    def bind(self, site: Site) -> Hook:
        return _FlowHook(self, site)


class _FlowHook(Hook):
    # Opened before and closed after every other layer of the same target, so
    # that all their receivers, pre and post alike, run inside the frame.
    outermost = True

    def __init__(self, mark: _FlowMark, site: Site) -> None:
        self.mark = mark
        self.site = site

    @property
    def gate(self) -> tuple[Any, ...] | None:
        union: list[Any] = []
        for provider in self.mark.gates:
            gate = provider()
            if gate is None:
                return None
            union.extend(gate)
        return tuple(union)

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        frame = Frame(self.mark.key, self_, self.site.sender_of(self_), named)
        return _frames.set((*_frames.get(), frame))

    def after(self, state: Any, result: Any) -> Any:
        _frames.reset(state)
        return result

    def error(self, state: Any, exception: BaseException) -> None:
        _frames.reset(state)


_marks: dict[str, tuple[_FlowMark, list[Weaving]]] = {}


def require_flow(target: str, gate: Callable[[], tuple[Any, ...] | None]) -> Callable[[], None]:
    """Mark ``target`` so :func:`enclosing` sees its calls; returns the release function.

    :param target: the target string to mark (woven lazily like any target).
    :param gate: returns the gate of the advice that depends on the mark.
    """
    entry = _marks.get(target)
    if entry is not None and all(w._state in ("unwoven", "failed") for w in entry[1]):
        entry = None  # its weaving was removed from outside: mark afresh
    if entry is None:
        mark = _FlowMark(target)
        entry = _marks[target] = (mark, [weave(target, mark, _internal=True)])
    mark, weavings = entry
    mark.gates.append(gate)
    for weaving in weavings:
        weaving.refresh()  # its gate is the union of its dependents'
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        mark.gates.remove(gate)
        if mark.gates:
            for weaving in weavings:
                weaving.refresh()
            return
        if _marks.get(target, (None,))[0] is mark:  # not a newer mark of the same target
            del _marks[target]
        for weaving in weavings:
            weaving.unweave()

    return release
