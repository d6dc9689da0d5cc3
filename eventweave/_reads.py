"""Which keyword arguments a receiver can read.

A receiver takes what a signal sends by name, and the rest through its
``**kwargs``. When its code never uses that ``**kwargs`` variable, the only
arguments it can ever read are the ones it names; an I/O advice (the
Vidispine HTTP instrumentation) then skips preparing (masking, copying) what
nobody reads. The answer is decided from the receiver's code, once per code
object, and errs towards "everything": anything that is not a plain Python
function or method, or whose code might reach its own frame (``locals()``,
``vars()``, ``sys._getframe()``...), reads everything.
"""

from __future__ import annotations

import dis
import inspect
import weakref
from types import CodeType, FunctionType, MethodType
from typing import Any

__all__ = ["names_read"]

# What a function could read its own frame's variables with.
_INTROSPECTION = frozenset(
    {
        "locals",
        "vars",
        "eval",
        "exec",
        "_getframe",
        "currentframe",
        "stack",
        "trace",
        "getouterframes",
        "f_locals",
        "f_back",
        "tb_frame",
        "settrace",
    }
)

_cache: weakref.WeakKeyDictionary[CodeType, frozenset[str] | None] = weakref.WeakKeyDictionary()


def names_read(receiver: Any) -> frozenset[str] | None:
    """The keyword arguments ``receiver`` can read, or None: any of them.

    A plain function, a bound method, or an object whose class defines
    ``__call__`` as a plain function, qualifies when its code never loads its
    ``**kwargs`` variable; the names are then those of its parameters (a
    receiver without ``**kwargs`` can only be given those anyway).
    """
    skip = 0
    if type(receiver) is MethodType:
        receiver, skip = receiver.__func__, 1
    elif type(receiver) is not FunctionType:
        call = inspect.getattr_static(type(receiver), "__call__", None)
        if type(call) is not FunctionType:
            return None  # a builtin, a class, a partial, a mock...
        receiver, skip = call, 1
    if receiver.__dict__.get("__wrapped__") is not None:
        return None  # a decorator's wrapper: what it forwards is read elsewhere
    code = receiver.__code__
    try:
        names = _cache[code]
    except KeyError:
        names = _cache[code] = _names_of(code)
    if names is None or not skip:
        return names
    positional = code.co_varnames[: code.co_argcount]
    return names - {positional[0]} if positional else names


def _names_of(code: CodeType) -> frozenset[str] | None:
    flags = code.co_flags
    count = code.co_argcount + code.co_kwonlyargcount
    parameters = code.co_varnames[:count]
    if not flags & inspect.CO_VARKEYWORDS:
        return frozenset(parameters)
    varkw = code.co_varnames[count + (1 if flags & inspect.CO_VARARGS else 0)]
    if varkw in code.co_cellvars or _INTROSPECTION.intersection(code.co_names):
        return None  # a nested function, or a frame lookup, may read it
    for instruction in dis.get_instructions(code):
        argval = instruction.argval
        named = argval == varkw or (isinstance(argval, tuple) and varkw in argval)
        if named and instruction.opname not in ("STORE_FAST", "DELETE_FAST"):
            return None
    return frozenset(parameters)
