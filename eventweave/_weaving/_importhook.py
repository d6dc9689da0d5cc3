"""Run a callback once a module has *finished* importing.

The import system runs a module's body with ``module.__spec__._initializing``
set, and clears it once the body has run and the module is in ``sys.modules``
for good (``importlib._bootstrap._load_unlocked``, the same on Python
3.10 to 3.13). That one assignment is the moment a lazy weaving needs, whoever
imports the module, top-level module or submodule, and however the import
started (this thread, another thread, a circular import, the module's own
body weaving itself):

- a module already in ``sys.modules`` but still running its body gets its
  spec's class swapped, for that moment only, for a subclass whose
  ``__setattr__`` notices ``_initializing`` turning false (instance
  ``__class__`` assignment, which the language supports for plain classes);
- a module not imported yet is noticed by a finder placed first on
  ``sys.meta_path`` while anything is awaited; it asks the finders after it
  for the spec and hooks that spec the same way. Names nobody awaits cost one
  dict lookup. An import that had already passed that point when its name
  started being awaited is reported at the next import of anything.

Callbacks run in the importing thread, right after the body, outside any
lock of this module. A module whose body raises is not reported: its
callbacks wait for the next attempt to import it.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from typing import Any

__all__ = ["initializing", "when_loaded"]

Callback = Callable[[types.ModuleType], None]

_lock = threading.Lock()
# Module name -> callbacks waiting for its import to finish.
_waiting: dict[str, list[Callback]] = {}
# id(spec) -> (spec, its original class): specs whose class is swapped.
_hooked: dict[int, tuple[Any, type]] = {}
_finding = threading.local()


def initializing(module: types.ModuleType) -> bool:
    """Whether ``module`` is still running its body."""
    spec = getattr(module, "__spec__", None)
    return spec is not None and bool(getattr(spec, "_initializing", False))


def when_loaded(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once module ``name`` has finished importing.

    At once if it already has; otherwise from the thread that completes the
    import, outside any lock of ours.
    """
    with _lock:
        module = sys.modules.get(name)
        if module is not None and not initializing(module):
            ready = True
        else:
            ready = False
            _waiting.setdefault(name, []).append(callback)
            if module is not None:
                _hook_spec(module.__spec__)
            elif _Finder not in sys.meta_path:
                sys.meta_path.insert(0, _Finder)
    if ready:
        callback(module)  # type: ignore[arg-type]
        return
    if module is not None and not initializing(module):
        # It finished between the check above and the hook: nobody will tell us.
        _fire(name)


def _fire(name: str) -> None:
    module = sys.modules.get(name)
    if module is None or initializing(module):
        return  # its body raised (or it is not done): wait for the next import
    with _lock:
        callbacks = _waiting.pop(name, [])
        _drop_finder_if_idle()
    for callback in callbacks:
        callback(module)


def _drop_finder_if_idle() -> None:
    # caller holds _lock
    if not _waiting and _Finder in sys.meta_path:
        sys.meta_path.remove(_Finder)


# -- specs that tell when their module is done --------------------------------


def _hook_spec(spec: Any) -> None:
    # caller holds _lock
    if spec is None or id(spec) in _hooked:
        return
    original = type(spec)
    try:
        watching = _watching_class(original)
        spec.__class__ = watching
    except TypeError:
        return  # a spec type that refuses it: wrapt-style loaders are not ours to patch
    _hooked[id(spec)] = (spec, original)


_classes: dict[type, type] = {}


def _watching_class(original: type) -> type:
    cls = _classes.get(original)
    if cls is None:
        cls = _classes[original] = type(
            original.__name__, (original,), {"__setattr__": _spec_setattr, "__slots__": ()}
        )
    return cls


def _spec_setattr(self: Any, attribute: str, value: Any) -> None:
    entry = _hooked.get(id(self))
    original: Any = entry[1] if entry is not None else type(self).__mro__[1]
    original.__setattr__(self, attribute, value)
    if attribute != "_initializing" or value or entry is None:
        return
    with _lock:
        if _hooked.pop(id(self), None) is not None:
            object.__setattr__(self, "__class__", original)
    _fire(self.name)


class _Finder:
    """A ``sys.meta_path`` entry that finds nothing itself: it hooks the specs others find."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        _sweep(name)
        if name not in _waiting:
            return None
        busy: set[str] = getattr(_finding, "names", set())
        if name in busy:
            return None
        _finding.names = busy | {name}
        try:
            spec = _find_with_others(name, path, target)
        finally:
            _finding.names = busy
        if spec is not None:
            with _lock:
                if name in _waiting:
                    _hook_spec(spec)
        return spec


def _sweep(importing: str) -> None:
    # An import that was past its own find_spec when its name started being
    # awaited is never seen by this finder, nor is one whose spec refused the
    # hook: report those at the next import of anything.
    for name in list(_waiting):
        if name == importing:
            continue
        module = sys.modules.get(name)
        if module is not None and not initializing(module):
            _fire(name)


def _find_with_others(name: str, path: Any, target: Any) -> Any:
    for finder in list(sys.meta_path):
        if finder is _Finder:
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(name, path, target)
        if spec is not None:
            return spec
    return None
