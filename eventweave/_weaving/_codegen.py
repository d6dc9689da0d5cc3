"""Generated code: the target's own signature, constants instead of globals, two forms.

Every woven plain Python function gets code compiled from source written for
its parameter list, in two forms:

- *idle*: what runs while nobody listens. For a target woven in place that
  is the target's own, untouched code object; for a wrapper it is a one-line
  pass-through ``return _ew_original(self, amount, currency)``.
- *listening*: the events around a call of the original.

A :class:`Switch` installs one or the other as the function's ``__code__``
whenever the signals it watches turn from nobody listening to someone, or
back. There is no per-call test at all while nobody listens, and every
reference to the function (``from billing import pay`` taken before
weaving) runs whichever form is current.

The generated code must run as the ``__code__`` of a function whose globals
are the user's module: it reads nothing from globals. What it needs (the
original, the hooks, the signals, builtins) is compiled in as constants: the
source names them with placeholder strings (``'<ew>_ew_original'``), which
are swapped for the real objects in ``co_consts`` after compilation. So
templates are shared by every function of the same shape, and a name in the
user's module (a global called ``type``) can never shadow ours.

The source is registered in ``linecache`` under a filename naming the target,
so tracebacks, pdb and coverage show the generated lines; the entry goes when
the weaving does.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import linecache
import os
import re
import sys
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._signals import Signal, watch_token
from . import _inline
from ._hooks import Hook

__all__ = [
    "BUILTINS",
    "DISABLE_ENV",
    "INPLACE_ENV",
    "Inline",
    "Recipe",
    "Shape",
    "Switch",
    "can_generate",
    "code_of",
    "compose",
    "forms_for",
    "kind_of",
    "names_of",
    "passthrough",
    "shape_of",
]

_CO_VARARGS = inspect.CO_VARARGS
_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS
_CO_ITERABLE_COROUTINE = inspect.CO_ITERABLE_COROUTINE


@dataclass(frozen=True)
class Shape:
    """A function's parameter list, read from its code object."""

    positional: tuple[str, ...]
    posonly: int
    kwonly: tuple[str, ...]
    varargs: str | None
    varkw: str | None

    @property
    def names(self) -> tuple[str, ...]:
        extra = tuple(n for n in (self.varargs, self.varkw) if n)
        return self.positional + self.kwonly + extra


_PARAMETER_FLAGS = _CO_VARARGS | _CO_VARKEYWORDS


def names_of(function: types.FunctionType) -> tuple[str, ...]:
    """The parameter names of ``function`` in the order ``shape_of(function).names`` lists them.

    Read straight from the code object: positional, keyword-only, then
    ``*args`` and ``**kwargs``, which is also how ``co_varnames`` begins.
    """
    code = code_of(function)
    flags = code.co_flags
    count = (
        code.co_argcount
        + code.co_kwonlyargcount
        + bool(flags & _CO_VARARGS)
        + bool(flags & _CO_VARKEYWORDS)
    )
    return code.co_varnames[:count]


def shape_of(function: types.FunctionType) -> Shape:
    """Read the parameters of ``function`` exactly as the interpreter binds them.

    The code object, not ``inspect.signature``: a ``__signature__`` or a
    ``__wrapped__`` chain describes what a decorator *claims*, but the
    generated code must accept what the function object *takes*. Functions
    with the same parameter list share one ``Shape``.
    """
    code = code_of(function)
    return _shape(
        names_of(function),
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags & _PARAMETER_FLAGS,
    )


@functools.lru_cache(maxsize=1024)
def _shape(names: tuple[str, ...], nargs: int, posonly: int, nkw: int, flags: int) -> Shape:
    index = nargs + nkw
    varargs = varkw = None
    if flags & _CO_VARARGS:
        varargs, index = names[index], index + 1
    if flags & _CO_VARKEYWORDS:
        varkw = names[index]
    return Shape(
        positional=names[:nargs],
        posonly=posonly,
        kwonly=names[nargs : nargs + nkw],
        varargs=varargs,
        varkw=varkw,
    )


_KIND_FLAGS = (
    (inspect.CO_COROUTINE, "async"),
    (inspect.CO_ASYNC_GENERATOR, "asyncgen"),
    (inspect.CO_GENERATOR, "gen"),
)


def kind_of(function: Any) -> str:
    """``"sync"``, ``"async"`` (coroutine function), ``"gen"`` or ``"asyncgen"``."""
    if type(function) is types.FunctionType and "_is_coroutine_marker" not in function.__dict__:
        # What the inspect predicates below conclude for a plain function,
        # read from its code's flags at once.
        flags = function.__code__.co_flags
        for flag, kind in _KIND_FLAGS:
            if flags & flag:
                return kind
        return "sync"
    if inspect.iscoroutinefunction(function):
        return "async"
    if inspect.isasyncgenfunction(function):
        return "asyncgen"
    if inspect.isgeneratorfunction(function):
        return "gen"
    return "sync"


BUILTINS: dict[str, Any] = {
    f"_ew_{builtin.__name__}": builtin
    for builtin in (type, getattr, isinstance, Exception, BaseException, StopAsyncIteration)
}
"""Builtins as generated code names them (``_ew_type``, never ``type``): the
code runs in the user's module, whose globals may shadow the real ones."""

DISABLE_ENV = "EVENTWEAVE_DISABLE_CODEGEN"
"""Set to a non-empty value to give every target wrapt's general wrapper, as
``WRAPT_DISABLE_EXTENSIONS`` does for wrapt. Read when a target is woven."""

INPLACE_ENV = "EVENTWEAVE_DISABLE_INPLACE"
"""Set to a non-empty value to replace the attribute with a generated wrapper
even where the function could be woven in place: the test suite runs on both
paths this way. Read when a target is woven."""


def can_generate(function: Any) -> bool:
    """Whether ``function`` gets generated code (else wrapt's general wrapper)."""
    if type(function) is not types.FunctionType or os.environ.get(DISABLE_ENV):
        return False
    code = code_of(function)
    if code.co_flags & _CO_ITERABLE_COROUTINE:  # @types.coroutine generators
        return False
    # No name of ours among its own: "\0" never appears in an identifier.
    return "\0_ew_" not in "\0" + "\0".join(code.co_varnames + code.co_freevars)


def compose(
    hooks: Sequence[Hook],
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """One ``(before, after, error)`` triple running several hooks in weave order.

    Every phase runs the hooks in the order they were woven, except
    ``outermost`` hooks (control-flow marks), which enter first and leave last. A hook whose
    ``before`` raises vetoes the call; the hooks entered before it are told
    through ``error`` so that what they opened (a control-flow frame) is closed.
    After a successful call every hook's ``after`` runs, even if an earlier
    one raised; the first exception is raised once they all have.
    """
    for hook in hooks:
        hook.prepare()
    if len(hooks) == 1:
        (hook,) = hooks
        return hook.before, hook.after, hook.error
    outer = [hook for hook in hooks if hook.outermost]
    chain = tuple(outer + [hook for hook in hooks if not hook.outermost])
    # Positions in `chain` in the order the after/error phases visit them: the
    # inner hooks in weave order, then the outer ones innermost first.
    leave = tuple(range(len(outer), len(chain))) + tuple(reversed(range(len(outer))))

    def before(
        self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> list[Any]:
        states: list[Any] = []
        for hook in chain:
            try:
                states.append(hook.before(self_, args, kwargs, named))
            except BaseException as exc:
                entered = [i for i in leave if i < len(states)]
                _fail([chain[i] for i in entered], [states[i] for i in entered], exc)
                raise
        return states

    def after(states: list[Any], result: Any) -> Any:
        # The call succeeded, so every layer hears of it through after (and
        # none sends an error signal for it) even when an earlier layer's
        # after raises (a post receiver failing); the first such error wins.
        first: BaseException | None = None
        for index in leave:
            try:
                result = chain[index].after(states[index], result)
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first
        return result

    def error(states: list[Any], exc: BaseException) -> None:
        _fail([chain[i] for i in leave], [states[i] for i in leave], exc)

    return before, after, error


def _fail(hooks: Sequence[Hook], states: Sequence[Any], exc: BaseException) -> None:
    # Every hook hears of the failure even when one of them raises, so that
    # none is left holding an open frame; the first such error wins.
    first: BaseException | None = None
    for hook, state in zip(hooks, states, strict=False):
        try:
            hook.error(state, exc)
        except BaseException as raised:
            first = first or raised
    if first is not None:
        raise first


# -- what hooks write into the listening form ----------------------------------


@dataclass(frozen=True)
class Inline:
    """What a hook may use to write its own listening form.

    A hook with an ``inline(context)`` method may return ``(constants,
    lines)``: objects the lines name (each name prefixed ``_ew_``, compiled
    in as a constant) and the body run when someone listens, which must call
    the target exactly once through ``call`` (or run ``generic``, the
    standard form, instead). It returns None to decline.

    The lines must spell builtins through :data:`BUILTINS` (``_ew_type``, not
    ``type``) and must not name any global: the code runs in the user's
    module.
    """

    call: str
    self_expr: str
    args_expr: str
    kwargs_expr: str
    named: tuple[tuple[str, str], ...]
    varargs: str | None
    varkw: str | None
    generic: tuple[str, ...]
    kind: str = "sync"
    # The form belongs to a function that owns its switch (``@emits``): the
    # collector does not look inside code objects, so an object compiled in
    # must not lead back to the function (a module may: it outlives it).
    weak: bool = False

    def around(self, hook: Any, arguments: str) -> tuple[dict[str, Any], list[str]]:
        """The form of a hook whose ``begin(ARGUMENTS)`` gives a state (None: nothing to
        do for this call), then ``after(state, result)`` or ``error(state, exception)``."""
        constants = {"_ew_hb": hook.begin, "_ew_ha": hook.after, "_ew_he": hook.error}
        lines = [
            f"_ew_s = _ew_hb({arguments})",
            "if _ew_s is None:",
            f"    return {self.call}",
            "try:",
            f"    _ew_r = {self.call}",
            "except _ew_BaseException as _ew_x:",
            "    _ew_he(_ew_s, _ew_x)",
            "    raise",
            "return _ew_ha(_ew_s, _ew_r)",
        ]
        return constants, lines


@dataclass(frozen=True)
class _Parts:
    """The expressions generated code is made of, for one shape."""

    params: str
    call: str
    self_expr: str
    args_expr: str
    kwargs_expr: str
    named_expr: str
    named: tuple[tuple[str, str], ...]


def _parts(shape: Shape, has_self: bool, bind: bool) -> _Parts:
    return _parts_of(
        shape.positional, shape.posonly, shape.kwonly, shape.varargs, shape.varkw, has_self, bind
    )


@functools.lru_cache(maxsize=1024)
def _parts_of(
    positional: tuple[str, ...],
    posonly: int,
    kwonly: tuple[str, ...],
    varargs: str | None,
    varkw: str | None,
    has_self: bool,
    bind: bool,
) -> _Parts:
    shape = Shape(positional, posonly, kwonly, varargs, varkw)
    params: list[str] = []
    for index, name in enumerate(shape.positional):
        params.append(name)
        if shape.posonly and index == shape.posonly - 1:
            params.append("/")
    if shape.varargs:
        params.append(f"*{shape.varargs}")
    elif shape.kwonly:
        params.append("*")
    params += shape.kwonly
    if shape.varkw:
        params.append(f"**{shape.varkw}")

    call_args = list(shape.positional)
    if shape.varargs:
        call_args.append(f"*{shape.varargs}")
    call_args += [f"{name}={name}" for name in shape.kwonly]
    if shape.varkw:
        call_args.append(f"**{shape.varkw}")
    call = f"_ew_original({', '.join(call_args)})"

    rest = shape.positional[1:] if has_self else shape.positional
    self_expr = shape.positional[0] if has_self else "None"
    args_items = [*rest, f"*{shape.varargs}" if shape.varargs else ""]
    args_expr = "(" + "".join(f"{item}, " for item in args_items if item) + ")"
    kwargs_items = [f"{name!r}: {name}" for name in shape.kwonly]
    if shape.varkw:
        kwargs_items.append(f"**{shape.varkw}")
    kwargs_expr = "{" + ", ".join(kwargs_items) + "}"
    named = tuple((n, n) for n in rest) + tuple((n, n) for n in shape.kwonly)
    if bind:
        # A decorated target: its parameters are the ones inspect.signature
        # shows (the wrapped function's), bound per call.
        named_expr = f"_ew_bind({self_expr}, {args_expr}, {kwargs_expr})"
    else:
        items = [f"{name!r}: {name}" for name in rest]
        if shape.varargs:
            items.append(f"{shape.varargs!r}: {shape.varargs}")
        items += [f"{name!r}: {name}" for name in shape.kwonly]
        if shape.varkw:
            # A key of **kwargs may repeat the name of a positional-only
            # parameter (f(1, a=2) for f(a, /, **kw)): the parameter wins.
            items.insert(0, f"**{shape.varkw}")
        named_expr = "{" + ", ".join(items) + "}"
    return _Parts(
        params=", ".join(params),
        call=call,
        self_expr=self_expr,
        args_expr=args_expr,
        kwargs_expr=kwargs_expr,
        named_expr=named_expr,
        named=named,
    )


def _returning(call: str, kind: str) -> list[str]:
    """Lines that call the original and return what it does, for each kind of function."""
    if kind == "async":
        return [f"return await {call}"]
    if kind == "gen":
        return [f"return (yield from {call})"]
    if kind == "asyncgen":
        return _delegate_async(call, before=None, after=None, error=None)
    return [f"return {call}"]


def _delegate_async(
    call: str, *, before: str | None, after: str | None, error: str | None
) -> list[str]:
    """An async generator's body delegating to ``call`` (``yield from`` has no async form).

    ``asend``/``athrow`` are forwarded, closing closes the delegate. With
    hooks: ``before`` runs when iteration starts, ``after`` when the
    delegate is exhausted, ``error`` when it raises (not when it is closed).
    """
    lines = []
    if before is not None:
        lines.append(f"_ew_s = {before}")
    lines += [
        f"_ew_it = {call}",
        "_ew_v = None",
        "_ew_t = None",
        "try:",
        "    while True:",
        "        try:",
        "            if _ew_t is None:",
        "                _ew_y = await _ew_it.asend(_ew_v)",
        "            else:",
        "                _ew_y = await _ew_it.athrow(_ew_t)",
        "                _ew_t = None",
        "        except _ew_StopAsyncIteration:",
        "            break",
    ]
    if error is not None:
        lines += [
            "        except _ew_GeneratorExit:",
            "            raise",
            "        except _ew_BaseException as _ew_x:",
            f"            {error}",
            "            raise",
        ]
    lines += [
        "        try:",
        "            _ew_v = yield _ew_y",
        "        except _ew_GeneratorExit:",
        "            raise",
        "        except _ew_BaseException as _ew_x:",
        "            _ew_t, _ew_v = _ew_x, None",
        "finally:",
        "    await _ew_it.aclose()",
    ]
    if after is not None:
        lines.append(after)
    return lines


def _generic(parts: _Parts, kind: str) -> list[str]:
    """The listening form that runs composed hooks around the call."""
    before = (
        f"_ew_before({parts.self_expr}, {parts.args_expr}, {parts.kwargs_expr}, {parts.named_expr})"
    )
    if kind == "asyncgen":
        return _delegate_async(
            parts.call,
            before=before,
            after="_ew_after(_ew_s, None)",
            error="_ew_error(_ew_s, _ew_x)",
        )
    call = parts.call
    if kind == "async":
        call = f"await {call}"
    elif kind == "gen":
        call = f"yield from {call}"
    return [
        f"_ew_s = {before}",
        "try:",
        f"    _ew_r = {call}",
        "except _ew_BaseException as _ew_x:",
        "    _ew_error(_ew_s, _ew_x)",
        "    raise",
        "return _ew_after(_ew_s, _ew_r)",
    ]


# -- compiling ------------------------------------------------------------------

_PLACEHOLDER = "<ew>"
_NAME = re.compile(r"\b_ew_\w+")
_templates: OrderedDict[tuple[Any, ...], _Template] = OrderedDict()
_TEMPLATES_KEPT = 512
_compile_lock = threading.Lock()


@dataclass(frozen=True)
class _Template:
    """A compiled body, shared by every function of the same shape and form."""

    code: types.CodeType
    source: str
    lines: tuple[str, ...]  # the source as linecache holds it
    names: tuple[str, ...]  # the constants it names, in the order of ``slots``
    slots: tuple[int, ...]  # where each sits in ``code.co_consts``


def _only_read(name: str, text: str) -> bool:
    """Whether every use of ``name`` in ``text`` reads an attribute of it or passes it on."""
    for use in re.finditer(rf"(?<![\w.]){name}\b", text):
        after = text[use.end() : use.end() + 1]
        before = text[: use.start()].rstrip()
        if after == "." or (before[-1:] == "=" and after in ",)") or before.endswith("except"):
            continue
        return False
    return True


def _template(
    params: str, freevars: tuple[str, ...], kind: str, body: tuple[str, ...], names: frozenset[str]
) -> _Template:
    key = (params, freevars, kind, body, names)
    with _compile_lock:
        found = _templates.get(key)
        if found is not None:
            _templates.move_to_end(key)
            return found
    source, used = _source(params, freevars, kind, body, names)
    outer = compile(source, "<eventweave template>", "exec", dont_inherit=True)
    template = _compiled(outer, source, used, freevars)
    with _compile_lock:
        _templates[key] = template
        while len(_templates) > _TEMPLATES_KEPT:
            _templates.popitem(last=False)
    return template


def _source(
    params: str, freevars: tuple[str, ...], kind: str, body: tuple[str, ...], names: frozenset[str]
) -> tuple[str, list[str]]:
    """The factory's source, and the constants it names (sorted)."""
    text = "\n".join(body)
    used = sorted(set(_NAME.findall(text)) & names)
    # A constant only read for an attribute (``_ew_sig._generation``) or passed
    # as a keyword value (``signal=_ew_sig,``) is spelled as its placeholder
    # right there: one LOAD_CONST. Others (called, tested for truth) are bound
    # to a local first, since calling a literal makes the compiler warn.
    inline = [name for name in used if _only_read(name, text)]
    for name in inline:
        body = tuple(re.sub(rf"\b{name}\b", repr(_PLACEHOLDER + name), line) for line in body)
    locals_ = [name for name in used if name not in inline]
    lines = ["def _ew_factory():"]
    if freevars:
        # The function whose __code__ this becomes has these free variables:
        # the code must name the same ones, in the same (sorted) order.
        lines.append("    " + " = ".join(freevars) + " = None")
    lines.append(f"    {'async ' if kind in ('async', 'asyncgen') else ''}def _ew_woven({params}):")
    lines += [f"        {name} = {_PLACEHOLDER + name!r}" for name in locals_]
    lines += ["        " + line for line in body]
    if freevars:
        lines.append("        " + ", ".join(freevars))  # never reached: keeps them free
    lines.append("    return _ew_woven")
    return "\n".join(lines) + "\n", used


def _compiled(
    outer: types.CodeType,
    source: str,
    used: list[str],
    freevars: tuple[str, ...],
    *,
    pruned: bool = False,
) -> _Template:
    """The template of a compiled factory module (see :func:`_source`). ``pruned``: a
    constant may be missing, in code the compiler found unreachable."""
    factory = next(c for c in outer.co_consts if isinstance(c, types.CodeType))
    code = next(c for c in factory.co_consts if isinstance(c, types.CodeType))
    if code.co_freevars != freevars:  # pragma: no cover - compiler invariant
        msg = f"generated code has free variables {code.co_freevars}, expected {freevars}"
        raise AssertionError(msg)
    position = {
        c[len(_PLACEHOLDER) :]: i
        for i, c in enumerate(code.co_consts)
        if type(c) is str and c.startswith(_PLACEHOLDER)
    }
    # A constant of code the compiler found unreachable (what follows a body
    # that always raises) is not there to fill in.
    kept = tuple(name for name in used if name in position) if pruned else tuple(used)
    return _Template(
        code,
        source,
        tuple(source.splitlines(True)),
        kept,
        tuple(position[name] for name in kept),
    )


# filename -> (the source registered under it, how many live forms use it).
_registered: dict[str, tuple[str, int]] = {}


@dataclass
class Form:
    """One compiled form of a woven function, and where its source is registered."""

    code: types.CodeType
    filename: str
    template: _Template
    # Compiled under the function's own filename (its body runs in the form,
    # see _inline): the source is the user's file, nothing to register.
    own_file: bool = False

    def register(self) -> None:
        if self.own_file:
            return
        source = self.template.source
        with _compile_lock:
            _, count = _registered.get(self.filename, (source, 0))
            _registered[self.filename] = (source, count + 1)
            lines = list(self.template.lines)
            linecache.cache[self.filename] = (len(source), None, lines, self.filename)

    def unregister(self) -> None:
        if self.own_file:
            return
        with _compile_lock:
            source, count = _registered.get(self.filename, ("", 0))
            if count > 1:
                _registered[self.filename] = (source, count - 1)
                return
            _registered.pop(self.filename, None)
            linecache.cache.pop(self.filename, None)


def _filename(target: str, role: str, source: str) -> str:
    """``<eventweave ROLE TARGET>``, numbered when a live form of another source has it."""
    base = f"<eventweave {role} {target}>"
    filename, n = base, 1
    with _compile_lock:
        while True:
            registered = _registered.get(filename)
            if registered is None or registered[0] is source or registered[0] == source:
                return filename
            n += 1
            filename = f"{base[:-1]}#{n}>"


def build(
    function: types.FunctionType,
    *,
    target: str,
    role: str,
    shape: Shape,
    freevars: tuple[str, ...],
    kind: str,
    body: list[str],
    constants: dict[str, Any],
) -> Form:
    """Compile ``body`` as the code of ``function``'s shape, with ``constants`` compiled in."""
    params = _parts(shape, False, False).params
    template = _template(params, freevars, kind, tuple(body), frozenset(constants))
    return _instantiate(function, template, _filled(template, constants), target, role)


def _filled(template: _Template, constants: dict[str, Any]) -> tuple[Any, ...]:
    """``template``'s constants with each placeholder swapped for its object."""
    consts = list(template.code.co_consts)
    for name, index in zip(template.names, template.slots, strict=True):
        consts[index] = constants[name]
    return tuple(consts)


def _instantiate(
    function: types.FunctionType,
    template: _Template,
    consts: tuple[Any, ...],
    target: str,
    role: str,
) -> Form:
    """``template``'s code with ``consts``, named after ``function`` and filed under ``target``."""
    filename = _filename(target, role, template.source)
    own = code_of(function)
    if sys.version_info >= (3, 11):
        code = template.code.replace(
            co_consts=consts,
            co_name=own.co_name,
            co_qualname=own.co_qualname,
            co_filename=filename,
        )
    else:
        code = template.code.replace(co_consts=consts, co_name=own.co_name, co_filename=filename)
    return Form(code, filename, template)


# (shape, free variables, kind) -> a pass-through's template, its constants
# with everything but the original filled in, and where the original goes.
# Weaving makes one pass-through per target (a wrapper's idle form, or the
# form awaiting a listened target's first call): they differ only there.
_passthroughs: dict[tuple[Shape, tuple[str, ...], str], tuple[_Template, tuple[Any, ...], int]] = {}


def passthrough(
    function: types.FunctionType,
    original: Any,
    *,
    target: str,
    shape: Shape,
    kind: str,
    role: str = "wrapper",
    freevars: tuple[str, ...] = (),
) -> Form:
    """A form that calls ``original`` with the arguments as they came.

    A wrapper's idle form; and, in the listening role, what a switch installs
    until its listening form is first needed (``original`` then builds it).
    """
    key = (shape, freevars, kind)
    prepared = _passthroughs.get(key)
    if prepared is None:
        parts = _parts(shape, False, False)
        constants = {"_ew_original": None, **BUILTINS, "_ew_GeneratorExit": GeneratorExit}
        body = tuple(_returning(parts.call, kind))
        template = _template(parts.params, freevars, kind, body, frozenset(constants))
        at = template.slots[template.names.index("_ew_original")]
        prepared = (template, _filled(template, constants), at)
        with _compile_lock:
            _passthroughs[key] = prepared
            while len(_passthroughs) > _TEMPLATES_KEPT:
                del _passthroughs[next(iter(_passthroughs))]
    template, consts, at = prepared
    return _instantiate(
        function, template, (*consts[:at], original, *consts[at + 1 :]), target, role
    )


def forms_for(
    function: types.FunctionType,
    original: Any,
    *,
    target: str,
    has_self: bool,
    hooks: Sequence[Hook],
    polled: Sequence[Any],
    bind: Callable[..., dict[str, Any]] | None = None,
    weak: bool = False,
) -> Form:
    """The listening form of ``function``: ``hooks`` around a call of ``original``.

    :param function: the function whose ``__code__`` the form becomes (the
        target itself when woven in place, else its wrapper).
    :param original: what the form calls: a copy of the target with its
        pristine code (in place), or the object the wrapper stands for.
    :param has_self: whether the first positional parameter is ``self``/``cls``.
    :param polled: gate objects the form tests itself on every call (their
        ``receivers``), calling ``original`` straight away when all are empty.
    :param bind: for a decorated target, ``bind(self_, args, kwargs)`` giving
        the parameters by the names ``inspect.signature`` shows.
    :param weak: reach the hooks through weak references (a function that owns
        its own switch, ``@emits``): the garbage collector does not look
        inside code objects, so a form's constants must not lead back to the
        function, or function and form could never be collected.
    """
    shape = shape_of(function)
    kind = kind_of(function)
    parts = _parts(shape, has_self, bind is not None)
    before, after, error = _weakly(hooks) if weak else compose(hooks)
    constants: dict[str, Any] = {
        "_ew_original": original,
        "_ew_before": before,
        "_ew_after": after,
        "_ew_error": error,
        "_ew_bind": bind,
        "_ew_GeneratorExit": GeneratorExit,
        **BUILTINS,
    }
    body = _generic(parts, kind)
    if len(hooks) == 1 and bind is None:
        inline = getattr(hooks[0], "inline", None)
        context = Inline(
            call=("await " if kind == "async" else "") + parts.call,
            self_expr=parts.self_expr,
            args_expr=parts.args_expr,
            kwargs_expr=parts.kwargs_expr,
            named=parts.named,
            varargs=shape.varargs,
            varkw=shape.varkw,
            generic=tuple(body),
            kind=kind,
            weak=weak,
        )
        plan = inline(context) if inline is not None and kind in ("sync", "async") else None
        if plan is not None:
            extra, body = plan
            constants.update(extra)
    if polled:
        terms = []
        for index, obj in enumerate(polled):
            constants[f"_ew_g{index}"] = obj
            terms.append(f"_ew_g{index}.{_listening_attribute(obj)}")
        bypass = _returning(parts.call, kind) + (["return"] if kind == "asyncgen" else [])
        body = [f"if not ({' or '.join(terms)}):", *("    " + line for line in bypass), *body]
    if kind == "sync" and bind is None and _runs_as(function, original):
        found = _inline.body_of(original)
        if found is not None:
            form = _build_inlined(function, shape, body, constants, found, parts.call)
            if form is not None:
                return form
    return build(
        function,
        target=target,
        role="woven",
        shape=shape,
        freevars=function.__code__.co_freevars,
        kind=kind,
        body=body,
        constants=constants,
    )


def _runs_as(function: types.FunctionType, original: Any) -> bool:
    """Whether ``original``'s body would run the same as ``function``'s code (in place):
    a copy of it, with its globals and closure."""
    return (
        type(original) is types.FunctionType
        and original is not function
        and original.__globals__ is function.__globals__
        and original.__closure__ is function.__closure__
        and original.__code__ is code_of(function)
    )


def _build_inlined(
    function: types.FunctionType,
    shape: Shape,
    body: list[str],
    constants: dict[str, Any],
    found: _inline.Body,
    call: str,
) -> Form | None:
    """The listening form ``body`` with the function's own body where it calls it (see
    :mod:`._inline`), or None if ``body`` does not call it in the one place expected."""
    freevars = function.__code__.co_freevars
    params = _parts(shape, False, False).params
    source, used = _source(params, freevars, "sync", tuple(body), frozenset(constants))
    own = code_of(function)
    try:
        tree = _inline.splice(source, found, call)
        if tree is None:
            return None
        outer = compile(tree, found.filename, "exec", flags=found.flags, dont_inherit=True)
    except Exception:  # the form's own blocks took the body past the compiler's limits
        return None
    template = _compiled(outer, "", used, freevars, pruned=True)
    # What the body makes (a lambda, a class) is named after the function, not the factory.
    qualname = getattr(own, "co_qualname", function.__qualname__)
    made = _inline.requalified(template.code, "_ew_factory.<locals>._ew_woven", qualname)
    template = dataclasses.replace(template, code=made)
    consts = _filled(template, constants)
    code = template.code
    if sys.version_info >= (3, 11):
        code = code.replace(co_consts=consts, co_name=own.co_name, co_qualname=own.co_qualname)
    else:
        code = code.replace(co_consts=consts, co_name=own.co_name)
    return Form(code, found.filename, template, own_file=True)


def _weakly(
    hooks: Sequence[Hook],
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    (hook,) = hooks
    hook.prepare()
    ref = weakref.ref(hook)

    def before(*args: Any) -> Any:
        return ref().before(*args)  # type: ignore[union-attr]

    def after(*args: Any) -> Any:
        return ref().after(*args)  # type: ignore[union-attr]

    def error(*args: Any) -> Any:
        return ref().error(*args)  # type: ignore[union-attr]

    return before, after, error


def _listening_attribute(obj: Any) -> str:
    # eventweave's own Signal lists its receivers through a property that
    # builds Django's list; its entries dict is the cheap truthful test.
    return "_entries" if isinstance(obj, Signal) else "receivers"


def listening(obj: Any) -> bool:
    """Whether gate object ``obj`` has anyone listening (cheaply, and truthfully)."""
    return bool(obj._entries if isinstance(obj, Signal) else obj.receivers)


# -- switching between the forms -----------------------------------------------

WATCH = "__eventweave_watch__"
"""Protocol: ``obj.__eventweave_watch__(callback) -> unwatch``. An object with
this method calls ``callback()`` after its ``receivers`` may have turned from
empty to non-empty or back; such objects are watched, the others polled."""

# id(function) -> (a weak reference to it, its idle code), while a switch
# follows its gate: what code_of() gives. Keyed by id, not a WeakKeyDictionary:
# code_of() runs several times per weaving and must not allocate.
_idle_code: dict[int, tuple[_IdleRef, types.CodeType]] = {}


class _IdleRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a switched function that drops its ``_idle_code`` entry with it.

    Made as ``_IdleRef(function, _forget_idle)``, then given its ``key``:
    weakref's own constructor, run without a Python-level ``__new__``.
    """

    __slots__ = ("key",)
    key: int


def _forget_idle(ref: _IdleRef) -> None:
    entry = _idle_code.get(ref.key)
    if entry is not None and entry[0] is ref:
        del _idle_code[ref.key]


def switched(function: Any) -> bool:
    """Whether a switch already follows ``function``'s gate (woven in place, or ``@emits``)."""
    entry = _idle_code.get(id(function))
    return entry is not None and entry[0]() is function


def code_of(function: types.FunctionType) -> types.CodeType:
    """The code ``function`` runs while nobody listens: its own, for a function woven in place.

    Code that reads a function's ``__code__`` to learn what it does (which
    names it calls) reads this instead: while someone listens, ``__code__``
    is the listening form.
    """
    entry = _idle_code.get(id(function))
    if entry is not None and entry[0]() is function:
        return entry[1]
    return function.__code__


# Re-entrant: a weak receiver dying during an update (garbage collection can
# run anywhere) prunes its signal, which calls update() again on this thread.
# A leaf lock: nothing is called while it is held but code assignments.
_switch_lock = threading.RLock()


def _all_signals(gate: tuple[Any, ...]) -> bool:
    # Loops rather than all()/any() over a generator: these run for every
    # weaving and every change of a switch, and a generator costs more than
    # the test itself.
    for obj in gate:  # noqa: SIM110
        if type(obj) is not Signal:
            return False
    return True


def _watchable(gate: tuple[Any, ...] | None) -> tuple[Any, ...]:
    return tuple(o for o in gate or () if callable(getattr(o, WATCH, None)))


def polled(gate: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The gate objects a listening form tests on every call: all of them, if any cannot
    announce when it gains or loses receivers; else none (its switch follows them)."""
    if not gate or _all_signals(gate):
        return ()
    if any(type(o) is not Signal and not callable(getattr(o, WATCH, None)) for o in gate):
        return gate
    return ()


def _anyone_listening(watched: tuple[Any, ...]) -> bool:
    for obj in watched:  # noqa: SIM110
        if obj._entries if type(obj) is Signal else listening(obj):
            return True
    return False


class Recipe(NamedTuple):
    """What a switch builds its listening form from (see :func:`forms_for`), on first need."""

    original: Callable[[], Any]  # gives what the form calls (made lazily: a copy)
    target: str
    has_self: bool
    hooks: Sequence[Hook]
    bind: Callable[..., dict[str, Any]] | None = None
    weak: bool = False


class Switch:
    """Keeps a function's ``__code__`` in the form its gate calls for.

    A switch is what the gate objects call when they gain their first
    receiver or lose their last (it is the watcher itself).

    :param function: the function whose code is switched.
    :param idle: the code while nobody listens.
    :param gate: the objects whose ``receivers`` say whether anyone
        listens, or None when the hooks must always run.
    :param recipe: what the listening form is built from, on first need.
    """

    __slots__ = (
        "__weakref__",
        "_finalizer",
        "_pending",
        "_token",
        "_unwatch",
        "active",
        "always",
        "form",
        "function",
        "idle",
        "owned",
        "polled",
        "recipe",
        "signals_only",
        "watched",
    )

    def __init__(
        self,
        function: types.FunctionType,
        idle: types.CodeType,
        gate: tuple[Any, ...] | None,
        recipe: Recipe,
        *,
        owned: bool = False,
    ) -> None:
        self.function = function
        self.owned = owned  # by the function itself (@emits): may go without detach()
        self.idle = idle
        self.recipe = recipe
        self.form: Form | None = None
        self.signals_only = gate is not None and bool(gate) and _all_signals(gate)
        self.watched: tuple[Any, ...] = (
            gate if gate is not None and self.signals_only else _watchable(gate)
        )
        # Always in the listening form: the hooks must always run, or the form
        # polls objects that cannot tell when they change (then it polls every
        # gate object: one that can tell is no use to a form always installed).
        self.polled = polled(gate)
        self.always = gate is None or bool(self.polled)
        self.active = False
        self._pending: Form | None = None  # the pass-through awaiting the first call
        self._unwatch: tuple[Callable[[], object], ...] = ()
        self._token: int | None = None  # watching eventweave signals only, under this token
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _ready(self) -> Form:
        # caller holds _switch_lock. Compiling a listening form is most of
        # what weaving costs while someone listens: a switch not owned by its
        # function first installs a pass-through that builds the real form on
        # the target's first call, so weaving thousands of targets that are
        # rarely called stays cheap.
        if self.form is not None or self.owned:
            return self.listening_form()
        if self._pending is None:
            function = self.function
            self._pending = passthrough(
                function,
                self._first_call,
                target=self.recipe.target,
                shape=shape_of(function),
                kind=kind_of(function),
                role="first call",
                freevars=code_of(function).co_freevars,
            )
            self._pending.register()
        return self._pending

    def _first_call(self, /, *args: Any, **kwargs: Any) -> Any:
        """The target's first call while someone listens: build its form, then make the call."""
        with _switch_lock:
            live = self.active
            pending = self._pending
            if live and pending is not None and self.function.__code__ is pending.code:
                self.function.__code__ = self.listening_form().code
        if live:
            return self.function(*args, **kwargs)
        # Replaced meanwhile (a weaving added or removed): call the original
        # rather than the function, whose code may still be this pass-through.
        return self.recipe.original()(*args, **kwargs)

    def listening_form(self) -> Form:
        if self.form is None:
            recipe = self.recipe
            self.form = forms_for(
                self.function,
                recipe.original(),
                target=recipe.target,
                has_self=recipe.has_self,
                hooks=recipe.hooks,
                polled=self.polled,
                bind=recipe.bind,
                weak=recipe.weak,
            )
            self.form.register()
        return self.form

    def attach(self) -> None:
        """Start following the gate, and install the form it calls for now."""
        self.active = True
        key = id(self.function)
        known = _idle_code.get(key)
        if known is None or known[0]() is not self.function:
            idle_ref = _IdleRef(self.function, _forget_idle)
            idle_ref.key = key
            _idle_code[key] = (idle_ref, self.idle)
        if self.always:
            self.update()
            return
        if self.owned:
            # The gate objects hold the switch weakly: a function decorated
            # with @emits (which owns its switch) can be collected like any.
            ref = weakref.ref(self)

            def update() -> None:
                switch = ref()
                if switch is not None:
                    switch.update()

            self._unwatch = tuple(getattr(obj, WATCH)(update) for obj in self.watched)
            self._finalizer = weakref.finalize(self, _unwatch_all, self._unwatch)
        elif self.signals_only:
            # eventweave's own signals: one token watches them all, and
            # nothing is made per signal to stop watching.
            token = self._token = watch_token()
            for signal in self.watched:
                signal._watch_as(token, self)
        else:
            self._unwatch = tuple(getattr(obj, WATCH)(self) for obj in self.watched)
        self.update()

    def __call__(self) -> None:
        self.update()

    def update(self) -> None:
        # Serialised so that the last assignment reflects the last change:
        # a connect and a disconnect racing on two threads could otherwise
        # leave the idle form installed while someone listens.
        with _switch_lock:
            if not self.active:
                return
            if self.always or _anyone_listening(self.watched):
                code = self._ready().code
            else:
                code = self.idle
            if self.function.__code__ is not code:
                self.function.__code__ = code

    def detach(self, final: types.CodeType | None = None) -> None:
        """Stop following the gate; install ``final`` (else leave the code as it is).

        Called when the hooks change (a new switch takes over) or when the
        weaving ends (``final``: the pristine code, or a wrapper's pass-through
        for good, so that a reference taken earlier never emits again).
        """
        _unwatch_all(self._unwatch)
        self._unwatch = ()
        token, self._token = self._token, None
        if token is not None:
            for signal in self.watched:
                signal._unwatch(token)
        if self._finalizer is not None:
            self._finalizer.detach()
        with _switch_lock:
            self.active = False
            if final is not None:
                _idle_code.pop(id(self.function), None)
                if self.function.__code__ is not final:
                    self.function.__code__ = final
        if self.form is not None:
            self.form.unregister()
        if self._pending is not None:
            self._pending.unregister()
            self._pending = None


def _unwatch_all(unwatch: Sequence[Callable[[], object]]) -> None:
    for each in unwatch:
        each()


def make_wrapper(
    original: Any, function: types.FunctionType, *, target: str
) -> tuple[types.FunctionType, Form]:
    """A new function standing for ``function`` (``original`` is what it calls).

    Same name, qualname, module, docstring, ``__dict__``, signature (through
    ``__wrapped__``), defaults and kind (coroutine, generator or async
    generator function) as ``function``; its code is the pass-through.
    """
    shape = shape_of(function)
    kind = kind_of(function)
    form = passthrough(function, original, target=target, shape=shape, kind=kind)
    form.register()
    scope = {"__name__": function.__module__, "__builtins__": __builtins__}
    wrapper = types.FunctionType(form.code, scope, function.__name__, function.__defaults__)
    wrapper.__kwdefaults__ = dict(function.__kwdefaults__) if function.__kwdefaults__ else None
    functools.update_wrapper(wrapper, function)
    return wrapper, form


def copy_function(function: types.FunctionType) -> types.FunctionType:
    """A function running ``function``'s current code, with its globals, closure and defaults."""
    copy = types.FunctionType(
        code_of(function),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__module__ = function.__module__
    return copy
