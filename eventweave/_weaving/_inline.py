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
  free variable but the ``__class__`` of zero-argument ``super()``;
- its source is where ``inspect`` finds it, and compiles to exactly the
  function's code (a file edited since it was imported does not);
- the body's only ``return`` is its last statement: the events come after
  the body as they do after the call;
- the body never binds or deletes a parameter (the post event sends the
  values the call was made with), never names ``locals``, ``vars``, ``dir``,
  ``eval``, ``exec`` or frames (the form's own locals would show), and names
  nothing of eventweave's (``_ew_``) nor private names (``__x``, mangled in
  a class).
"""

from __future__ import annotations
import __future__

import ast
import dis
import inspect
import textwrap
import types
import weakref
from dataclasses import dataclass

__all__ = ["Body", "body_of", "splice"]

# The compiler flags of ``from __future__`` imports: the body is compiled
# under its module's.
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

_KINDS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_KINDS |= inspect.CO_ITERABLE_COROUTINE

# Names whose use would show the form's own locals, or its frame.
_LOCALS_NAMES = frozenset({"locals", "vars", "dir", "eval", "exec"})
_FRAME_ATTRIBUTES = frozenset({"_getframe", "currentframe", "f_locals", "stack", "trace"})


@dataclass(frozen=True)
class Body:
    """The statements of a function's body, at their places in its source file."""

    statements: tuple[ast.stmt, ...]  # all but a final ``return``
    result: ast.expr | None  # what the final ``return`` returns (None: falls off the end)
    filename: str
    firstlineno: int  # the function's co_firstlineno: the form's own lines go there
    flags: int  # the module's ``from __future__`` compiler flags


_bodies: weakref.WeakKeyDictionary[types.CodeType, Body | None] = weakref.WeakKeyDictionary()


def body_of(function: types.FunctionType) -> Body | None:
    """``function``'s body, if its listening form can run it in place of a call."""
    code = function.__code__
    try:
        return _bodies[code]
    except KeyError:
        pass
    try:
        found = _find(function)
    except (OSError, TypeError, SyntaxError, ValueError, RecursionError, MemoryError):
        found = None  # no source, or not the function's: the form calls it
    _bodies[code] = found
    return found


def _find(function: types.FunctionType) -> Body | None:
    code = function.__code__
    if code.co_flags & _KINDS or code.co_freevars not in ((), ("__class__",)):
        return None
    lines, start = inspect.getsourcelines(function)
    first = lines[0]
    margin = first[: len(first) - len(first.lstrip())]
    if any(line.strip() and not line.startswith(margin) for line in lines):
        return None  # a line left of the def (a multi-line string): positions would shift
    source = textwrap.dedent("".join(lines))
    tree = ast.parse(source)
    if len(tree.body) != 1:
        return None
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.name != code.co_name:
        return None
    flags = code.co_flags & _FUTURE_FLAGS
    if not _compiles_to(source, code, flags):
        return None
    statements = list(node.body)
    result: ast.expr | None = None
    last = statements[-1]
    if isinstance(last, ast.Return):
        statements.pop()
        result = last.value if last.value is not None else ast.Constant(None)
        if result is not last.value:
            ast.copy_location(result, last)
    parameters = set(code.co_varnames[: _parameter_count(code)])
    if not _plain(statements, result, parameters):
        return None
    for each in [*statements, *([result] if result is not None else [])]:
        ast.increment_lineno(each, start - 1)
        for child in ast.walk(each):
            for name in ("col_offset", "end_col_offset"):
                offset = getattr(child, name, None)
                if offset is not None:
                    setattr(child, name, offset + len(margin))
    return Body(tuple(statements), result, code.co_filename, code.co_firstlineno, flags)


def _parameter_count(code: types.CodeType) -> int:
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS)
    count += bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return count


def _compiles_to(source: str, code: types.CodeType, flags: int) -> bool:
    """Whether ``source`` (one def) compiles to ``code``: the source is the function's own."""
    if code.co_freevars:  # zero-argument super(): compiled inside a class, as it was
        source = "class _ew_Class:\n" + textwrap.indent(source, "    ")
    compiled = compile(source, code.co_filename, "exec", flags=flags, dont_inherit=True)
    found = _named(compiled, code.co_name)
    return found is not None and _same(found, code)


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
    """Whether two code objects do the same: same names, constants and instructions.

    The instructions are compared by name and argument, jumps by the
    instruction they reach: the compiler spells a few alike things
    differently in another module (``math.sqrt(x)`` with ``math`` imported
    there, or not), and that must not count as an edited source.
    """
    if (
        one.co_names != other.co_names
        or one.co_varnames != other.co_varnames
        or one.co_freevars != other.co_freevars
        or one.co_cellvars != other.co_cellvars
        or one.co_argcount != other.co_argcount
        or one.co_posonlyargcount != other.co_posonlyargcount
        or one.co_kwonlyargcount != other.co_kwonlyargcount
        or len(one.co_consts) != len(other.co_consts)
        or _instructions(one) != _instructions(other)
    ):
        return False
    for a, b in zip(one.co_consts, other.co_consts, strict=True):
        if isinstance(a, types.CodeType) or isinstance(b, types.CodeType):
            if not (isinstance(a, types.CodeType) and isinstance(b, types.CodeType)):
                return False
            if not _same(a, b):
                return False
        elif type(a) is not type(b) or a != b:
            return False
    return True


# Instructions that only pad or prepare (skipped), and spellings of one thing.
_PADDING = frozenset({"CACHE", "EXTENDED_ARG", "NOP", "RESUME", "PUSH_NULL"})
_ALIASES = {"LOAD_METHOD": "LOAD_ATTR", "CALL_METHOD": "CALL_FUNCTION"}
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)


def _instructions(code: types.CodeType) -> list[tuple[str, object]]:
    found = [i for i in dis.get_instructions(code) if i.opname not in _PADDING]
    index = {instruction.offset: n for n, instruction in enumerate(found)}
    shape: list[tuple[str, object]] = []
    for instruction in found:
        argument = instruction.argval
        if instruction.opcode in _JUMPS:
            argument = index.get(argument, -1) if isinstance(argument, int) else argument
        elif isinstance(argument, types.CodeType):
            argument = None  # compared as a constant
        shape.append((_ALIASES.get(instruction.opname, instruction.opname), argument))
    return shape


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
            if isinstance(node, ast.Name) and node.id in _LOCALS_NAMES:
                return False
            if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRIBUTES:
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
    found = [node]
    stack = [node]
    while stack:
        for child in ast.iter_child_nodes(stack.pop()):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            found.append(child)
            stack.append(child)
    return found


def splice(source: str, body: Body, call: str) -> ast.Module | None:
    """The form's ``source``, its statement ``_ew_r = CALL`` replaced by ``body``.

    Every line of ``source`` is placed at the function's first line; the
    body keeps its own. None if ``source`` does not hold that statement
    exactly once, directly in the form's body or in a ``try`` there.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name in ("lineno", "end_lineno"):
            if hasattr(node, name):
                setattr(node, name, body.firstlineno)
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
    target = ast.Name("_ew_r", ast.Store())
    assign = ast.Assign(targets=[target], value=result)
    ast.copy_location(assign, result if body.result is not None else place[index])
    ast.copy_location(target, assign)
    place[index : index + 1] = [*body.statements, assign]
    return ast.fix_missing_locations(tree)
