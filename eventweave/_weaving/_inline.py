"""A function's own body, compiled into its listening form in place of the call.

A listening form calls the original once, between the pre and post events.
Where the target is woven in place, that call is a second frame for every
call of the function. When the function's body allows it, the form runs the
body itself instead: its statements are compiled into the form where the call
was, and the value of its final ``return`` becomes the result.

The body keeps its own positions: the form is compiled under the function's
own filename, each of the body's lines under its own number (the form's own
lines under the ``def`` line). Tracebacks, breakpoints and coverage see the
function's source, as when the original runs.

This is done only where it is sound, and the original is called otherwise:

- a plain function (not a generator or coroutine), woven in place, with no
  free variable but the ``__class__`` of zero-argument ``super()``, and no
  local of its body captured by a nested function;
- its source is where ``inspect`` finds it and compiles, in its module, to
  exactly the function's code (a file edited since it was imported does not);
- the body's only ``return`` is its last statement: the events come after
  the body as they do after the call;
- the body never binds or deletes a parameter (the post event sends the
  values the call was made with), never names ``locals``, ``vars``, ``dir``,
  ``eval``, ``exec`` or frames (the form's own locals would show), and names
  nothing of eventweave's (``_ew_``) nor private names (``__x``, mangled in
  a class);
- no tracer is set when the form is built (a coverage tool or debugger sees
  the function's lines exactly as it would without eventweave).

The body's locals are unbound as soon as the body is done, before the post
event, as returning from the function would drop them.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import marshal
import sys
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["Body", "body_of", "requalified", "splice"]

# The compiler flags of ``from __future__`` imports: the body is compiled
# under its module's.
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

_KINDS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_KINDS |= inspect.CO_ITERABLE_COROUTINE

# Names whose use would show the form's own locals, or its frame.
_LOCALS_NAMES = frozenset({"locals", "vars", "dir", "eval", "exec"})
_FRAME_NAMES = frozenset({"_getframe", "currentframe", "f_locals", "stack", "trace"})
_FORBIDDEN = _LOCALS_NAMES | _FRAME_NAMES
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True)
class Body:
    """The statements of a function's body, at their places in its source file."""

    statements: tuple[ast.stmt, ...]  # all but a final ``return``
    result: ast.expr | None  # what the final ``return`` returns (None: falls off the end)
    locals: tuple[str, ...]  # what the body binds: unbound once it is done
    filename: str
    line: int  # the ``def`` line: the form's own statements go there
    flags: int  # the module's ``from __future__`` compiler flags


def body_of(function: types.FunctionType) -> Body | None:
    """``function``'s body, if its listening form can run it in place of a call.

    Worked out each time a listening form is built (once per weaving of the
    function, which keeps its form).
    """
    if sys.gettrace() is not None or _monitored():
        return None  # a tracer sees the function's own lines; decided again next time
    try:
        return _find(function)
    except Exception:  # no source, one mid-edit, not the function's...: the form calls it
        return None


def _monitored() -> bool:
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return False
    return any(monitoring.get_tool(tool) is not None for tool in range(6))


def _find(function: types.FunctionType) -> Body | None:
    code = function.__code__
    if code.co_flags & _KINDS or code.co_freevars not in ((), ("__class__",)):
        return None
    parameters = code.co_varnames[: _parameter_count(code)]
    if any(name not in parameters for name in code.co_cellvars):
        return None  # a local of the body lives on in a closure: it cannot be unbound
    lines, start = inspect.getsourcelines(function)
    first = lines[0]
    margin = first[: len(first) - len(first.lstrip())]
    # The lines as they are in the file (a docstring's indentation is part of
    # it), under a header of as many lines: the module's imported names (the
    # compiler spells ``math.sqrt(x)`` differently for an imported ``math``),
    # then a block opening the def's indentation.
    header = [f"import {name}\n" for name in _imported(function, code)]
    if margin:
        header.append("class _ew_Class:\n" if code.co_freevars else "if 1:\n")
    source = "".join(header) + "".join(lines)
    flags = code.co_flags & _FUTURE_FLAGS
    tree = ast.parse(source)
    node = _the_def(tree, code.co_name)
    if node is None:
        return None
    compiled = compile(source, code.co_filename, "exec", flags=flags, dont_inherit=True)
    found = _named(compiled, code.co_name)
    if found is None:
        return None
    # What the function makes is named after where the snippet put it (3.10
    # spells those names as constants): named as the function's own first.
    where = f"_ew_Class.{code.co_name}" if code.co_freevars else code.co_name
    if not _same(requalified(found, where, function.__qualname__), code):
        return None
    statements = list(node.body)
    result: ast.expr | None = None
    last = statements[-1]
    if isinstance(last, ast.Return):
        statements.pop()
        result = last.value if last.value is not None else ast.Constant(None)
        if result is not last.value:
            ast.copy_location(result, last)
    if not _plain(statements, result, set(parameters)):
        return None
    shift = start - 1 - len(header)
    for each in [*statements, *([result] if result is not None else [])]:
        ast.increment_lineno(each, shift)
    bound = tuple(code.co_varnames[len(parameters) :])
    return Body(tuple(statements), result, bound, code.co_filename, node.lineno + shift, flags)


def _imported(function: types.FunctionType, code: types.CodeType) -> list[str]:
    """The names ``code`` reads that its module most likely binds by an import: modules,
    and classes and functions of other modules. (Guessed wrong, the code compiled
    differs and the function is called, as it is without its source.)"""
    module = function.__module__
    found = []
    for name in code.co_names:
        value = function.__globals__.get(name, _MISSING)
        if isinstance(value, types.ModuleType) or (
            isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType))
            and getattr(value, "__module__", module) != module
        ):
            found.append(name)
    return found


_MISSING = object()


def _the_def(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """The one def of the snippet (inside its header's block, if any)."""
    node: ast.AST = tree.body[-1]
    if isinstance(node, (ast.If, ast.ClassDef)) and len(node.body) == 1:
        node = node.body[0]
    if isinstance(node, ast.FunctionDef) and node.name == name:
        return node
    return None


def _parameter_count(code: types.CodeType) -> int:
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS)
    count += bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return count


def _named(code: types.CodeType, name: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name:
                return const
            inner = _named(const, name)
            if inner is not None:
                return inner
    return None


def _same(one: types.CodeType, other: types.CodeType) -> bool:
    """Whether two code objects are the same code: instructions, constants, names,
    exception table and positions relative to the first line."""
    fields = ["co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars"]
    fields += ["co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_linetable"]
    if sys.version_info >= (3, 11):
        fields.append("co_exceptiontable")
    if any(getattr(one, field) != getattr(other, field) for field in fields):
        return False
    if len(one.co_consts) != len(other.co_consts):
        return False
    return all(_same_constant(a, b) for a, b in zip(one.co_consts, other.co_consts, strict=True))


def _same_constant(one: object, other: object) -> bool:
    if isinstance(one, types.CodeType) and isinstance(other, types.CodeType):
        return _same(one, other)
    if isinstance(one, tuple) and isinstance(other, tuple) and type(one) is type(other):
        return len(one) == len(other) and all(map(_same_constant, one, other))
    try:  # by value and type (0.0 is not -0.0, 1 is not True)
        return bool(marshal.dumps(one) == marshal.dumps(other))  # type: ignore[arg-type]
    except ValueError:
        return False


def _plain(statements: list[ast.stmt], result: ast.expr | None, parameters: set[str]) -> bool:
    """Whether the body can run in the form: see the module docstring."""
    nodes = [*statements, *([result] if result is not None else [])]
    for top in nodes:
        if any(isinstance(node, ast.Return) for node in _own_scope(top)):
            return False  # a return before the end
        for node in ast.walk(top):
            names = _names(node)
            if any(name.startswith("_ew_") or _private(name) for name in names):
                return False
            if _FORBIDDEN.intersection(names):
                return False
            if isinstance(node, ast.Constant) and str(node.value).startswith("<ew>"):
                return False
            if parameters.intersection(_bound(node)):
                return False
    return True


def _names(node: ast.AST) -> list[str]:
    """The identifiers ``node`` spells itself."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.alias):
        return [*node.name.split("."), *([node.asname] if node.asname else [])]
    return _bound(node)


def _bound(node: ast.AST) -> list[str]:
    """The names ``node`` binds or deletes in its scope."""
    if isinstance(node, ast.Name):
        return [] if isinstance(node.ctx, ast.Load) else [node.id]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.alias):
        return [node.asname or node.name.partition(".")[0]]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name is not None else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest is not None else []
    return []


def _private(name: str) -> bool:
    return name.startswith("__") and not name.endswith("__")


def _own_scope(node: ast.AST) -> list[ast.AST]:
    """``node`` and what it holds, not looking inside nested functions, lambdas or classes."""
    if isinstance(node, _SCOPES):
        return [node]  # a def or class statement: what it holds is its own scope's
    found = [node]
    stack = [node]
    while stack:
        for child in ast.iter_child_nodes(stack.pop()):
            if isinstance(child, _SCOPES):
                continue
            found.append(child)
            stack.append(child)
    return found


def splice(source: str, body: Body, call: str) -> ast.Module | None:
    """The form's ``source``, its statement ``_ew_r = CALL`` replaced by ``body``.

    Every line of ``source`` is placed on the function's ``def`` line; the
    body keeps its own. Once the body is done, its locals are unbound. None
    if ``source`` does not hold that statement exactly once, directly in the
    form's body or in a ``try`` there.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name in ("lineno", "end_lineno"):
            if hasattr(node, name):
                setattr(node, name, body.line)
        for name in ("col_offset", "end_col_offset"):
            if hasattr(node, name):
                setattr(node, name, 0)
    expected = ast.dump(ast.parse(f"_ew_r = {call}").body[0])
    factory = tree.body[0]
    assert isinstance(factory, ast.FunctionDef)
    form = next(node for node in factory.body if isinstance(node, ast.FunctionDef))
    places: list[list[ast.stmt]] = [form.body]
    places += [node.body for node in form.body if isinstance(node, ast.Try)]
    found = [
        (place, index)
        for place in places
        for index, statement in enumerate(place)
        if ast.dump(statement, include_attributes=False) == expected
    ]
    if len(found) != 1:
        return None
    place, index = found[0]
    result = body.result if body.result is not None else ast.Constant(None)
    assign = ast.Assign(targets=[ast.Name("_ew_r", ast.Store())], value=result)
    ast.copy_location(assign, result if body.result is not None else place[index])
    unbind: list[ast.stmt] = [
        ast.Assign(targets=[ast.Name(name, ast.Store())], value=ast.Constant(None))
        for name in body.locals
    ]
    for statement in unbind:
        ast.copy_location(statement, place[index])
    place[index : index + 1] = [*body.statements, assign, *unbind]
    return ast.fix_missing_locations(tree)


def requalified(code: types.CodeType, old: str, new: str) -> types.CodeType:
    """``code`` with the qualified names it gives what it makes (functions,
    lambdas, classes, comprehensions) moved from under ``old`` to under ``new``."""
    prefix = old + "."
    consts: list[Any] = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            const = requalified(const, old, new)
        elif type(const) is str and const.startswith(prefix):
            const = new + const[len(old) :]
        consts.append(const)
    changes: dict[str, Any] = {"co_consts": tuple(consts)}
    qualname = getattr(code, "co_qualname", None)
    if qualname is not None and qualname.startswith(prefix):
        changes["co_qualname"] = new + qualname[len(old) :]
    return code.replace(**changes)
