"""A listening form running the woven function's own body (no call, no second frame).

Where a function is woven in place and its body allows it, the body is
compiled into the listening form where the call of the original was. The
events must be those of the call path, the body's lines must keep their
file and numbers (tracebacks, breakpoints, coverage), and every function
whose body does not allow it must still be called.
"""

from __future__ import annotations

import importlib.util
import linecache
import math
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventweave import Emit, Signal, unweave_all, weave
from eventweave._weaving import _inline
from eventweave._weaving._codegen import INPLACE_ENV
from eventweave.testing import capture


@pytest.fixture(autouse=True)
def inplace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In place, even when the suite runs with wrappers forced: only there is a body run."""
    monkeypatch.delenv(INPLACE_ENV, raising=False)
    yield
    unweave_all()


class Base:
    def total(self, amount: int) -> int:
        return amount


class Invoice(Base):
    rate = 3

    def pay(self, amount: int, currency: str = "EUR") -> int:
        if amount < 0:
            raise ValueError(f"cannot pay {amount} {currency}")  # the raising line
        total = amount * self.rate
        return total

    def quiet(self, amount: int) -> None:
        self.last = amount

    def root(self, amount: int) -> float:
        return math.sqrt(amount)  # a module's function: compiled alike in any module

    def doubled(self, amount: int) -> int:
        return super().total(amount) * 2

    def early(self, amount: int) -> int:
        if amount:
            return amount
        return 0

    def rebinds(self, amount: int) -> int:
        amount = amount + 1
        return amount

    def peeks(self, amount: int) -> list[str]:
        return sorted(locals())

    def mangles(self, amount: int) -> int:
        self.__seen = amount
        return amount


def listening_code(owner: type, name: str, *args: Any) -> types.CodeType:
    """The code the woven method runs while someone listens (built by a first call)."""
    pre, post, error = Signal(), Signal(), Signal()
    weave((owner, name), Emit(pre, post, error))
    pre.connect(_ignore, weak=False)
    getattr(owner(), name)(*args)
    code: types.CodeType = vars(owner)[name].__code__
    return code


def _ignore(**named: Any) -> None:
    pass


def runs_its_body(code: types.CodeType) -> bool:
    """Whether ``code`` is a listening form holding the function's body (one that calls
    the original is filed under a generated name; the original has no ``_ew_`` local)."""
    return code.co_filename == __file__ and "_ew_snd" in code.co_varnames


def test_the_listening_form_runs_the_body_and_sends_what_the_call_path_sends() -> None:
    pre, post, error = Signal(), Signal(), Signal()
    weave((Invoice, "pay"), Emit(pre, post, error))
    with capture(pre, post, error) as events:
        assert Invoice().pay(2) == 6
        with pytest.raises(ValueError, match="cannot pay -1 EUR"):
            Invoice().pay(-1)
        assert runs_its_body(vars(Invoice)["pay"].__code__)
    sent = [(e.signal, e.kwargs.get("result"), type(e.kwargs.get("exception"))) for e in events]
    assert sent == [
        (pre, None, type(None)),
        (post, 6, type(None)),
        (pre, None, type(None)),
        (error, None, ValueError),
    ]
    assert events[1].kwargs == {
        "instance": 2,
        "method": "pay",
        "args": (2, "EUR"),
        "kwargs": {},
        "amount": 2,
        "currency": "EUR",
        "result": 6,
    }


def test_a_traceback_from_the_body_shows_its_own_file_and_line_and_no_other_frame() -> None:
    code = listening_code(Invoice, "pay", 1)
    assert runs_its_body(code)
    with pytest.raises(ValueError) as info:
        Invoice().pay(-1)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert [f for f in frames if f.name == "pay"] == [frames[-1]]  # one frame: the form's
    assert frames[-1].filename == __file__
    assert frames[-1].line is not None
    assert frames[-1].line.endswith("# the raising line")
    assert not [f for f in frames if f.filename.startswith("<eventweave")]


def test_the_body_reports_its_own_lines_to_a_tracer() -> None:
    # What breakpoints and coverage rely on: line events in the function's file.
    code = listening_code(Invoice, "pay", 1)
    assert runs_its_body(code)
    first = Invoice.pay.__code__.co_firstlineno
    seen: list[int] = []

    def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is code and event == "line":
            seen.append(frame.f_lineno - first)
        return tracer

    sys.settrace(tracer)
    try:
        Invoice().pay(2)
    finally:
        sys.settrace(None)
    # the body's lines (if, total =, return), in order, among the form's own (the def line)
    assert [line for line in seen if line] == [1, 3, 4]


def test_bodies_falling_off_the_end_calling_super_or_a_module_function_run_in_the_form() -> None:
    signal = Signal()
    weave((Invoice, "quiet"), Emit(post=signal))
    weave((Invoice, "doubled"), Emit(post=signal))
    weave((Invoice, "root"), Emit(post=signal))
    invoice = Invoice()
    with capture(signal) as events:
        assert invoice.quiet(5) is None
        assert invoice.doubled(4) == 8
        assert invoice.root(9) == 3.0
        for name in ("quiet", "doubled", "root"):
            assert runs_its_body(vars(Invoice)[name].__code__), name
    assert invoice.last == 5
    assert [e.kwargs["result"] for e in events] == [None, 8, 3.0]


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("early", (3,), 3),  # a return before the end
        ("rebinds", (3,), 4),  # the post event must send the amount the call was made with
        ("peeks", (3,), ["amount", "self"]),  # locals() would show the form's own
        ("mangles", (3,), 3),  # a private name, mangled in the class
    ],
)
def test_a_body_that_cannot_run_in_the_form_is_called(
    name: str, args: tuple[Any, ...], result: Any
) -> None:
    post = Signal()
    weave((Invoice, name), Emit(post=post))
    with capture(post) as events:
        assert getattr(Invoice(), name)(*args) == result
        code = vars(Invoice)[name].__code__
        assert code.co_filename.startswith("<eventweave woven ")  # the form calling it
    assert events[0].kwargs["result"] == result
    assert events[0].kwargs["amount"] == args[0]


def test_a_closure_and_a_function_without_source_are_not_compiled_in() -> None:
    factor = 2

    def scaled(amount: int) -> int:
        return amount * factor

    namespace: dict[str, Any] = {"__name__": "nowhere"}
    exec("def made(amount):\n    return amount + 1\n", namespace)
    made = namespace["made"]
    assert _inline.body_of(scaled) is None  # a free variable of its own
    assert _inline.body_of(made) is None  # no source to read
    assert _inline.body_of(Invoice.pay) is not None


def test_a_source_changed_since_the_import_is_not_compiled_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    namespace: dict[str, Any] = {"__name__": "edited"}
    filename = "<edited module>"
    source = "def tax(amount):\n    return amount * 2\n"
    exec(compile(source, filename, "exec"), namespace)
    tax = namespace["tax"]
    monkeypatch.setitem(linecache.cache, filename, (0, None, source.splitlines(True), filename))
    assert _inline.body_of(tax) is not None
    edited = "def tax(amount):\n    return amount * 3\n"
    monkeypatch.setitem(linecache.cache, filename, (0, None, edited.splitlines(True), filename))
    assert _inline.body_of(tax) is None


def test_unweaving_restores_the_code_and_leaves_the_file_in_linecache_alone() -> None:
    original = vars(Invoice)["pay"].__code__
    lines = linecache.getlines(__file__)
    code = listening_code(Invoice, "pay", 1)
    assert runs_its_body(code)
    unweave_all()
    assert vars(Invoice)["pay"].__code__ is original
    assert linecache.getlines(__file__) == lines


def test_a_method_of_a_class_made_in_a_function_runs_in_the_form() -> None:
    def make() -> type:
        class Local:
            def pay(self, amount: int) -> int:
                total = amount * 2
                return total

        return Local

    local = make()
    post = Signal()
    weave((local, "pay"), Emit(post=post))
    with capture(post) as events:
        assert local().pay(2) == 4
        assert runs_its_body(vars(local)["pay"].__code__)
    assert events[0].kwargs["result"] == 4


def module_from(path: Path, source: str) -> types.ModuleType:
    """``source`` written to ``path`` and imported from there, as a module of its own."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Callable[[str, str], types.ModuleType]]:
    made: list[str] = []

    def make(name: str, source: str) -> types.ModuleType:
        made.append(name)
        return module_from(tmp_path / f"{name}.py", source)

    yield make
    for name in made:
        sys.modules.pop(name, None)


JOB = """
class Job:
    def finish(self, ok, on_success, on_done):
        if ok:
            on_success()
        on_done()
        return -0.0
"""


@pytest.mark.parametrize(
    "edited",
    [
        JOB.replace(
            "            on_success()\n        on_done()",
            "            on_success()\n            on_done()",
        ),  # a statement moved into the if
        JOB.replace("return -0.0", "return 0.0"),  # a constant equal to the one run
        JOB.replace(
            "def finish(self, ok, on_success, on_done):",
            "def finish(self, ok, on_success, on_done):\n        x = (1,",
        ),  # saved in the middle of an edit
    ],
    ids=["moved", "constant", "unfinished"],
)
def test_a_file_edited_since_the_import_runs_the_code_imported(
    modules: Callable[[str, str], types.ModuleType], edited: str
) -> None:
    module = modules("edited_jobs", JOB)
    Path(module.__file__ or "").write_text(edited)
    linecache.checkcache()
    post = Signal()
    weave((module.Job, "finish"), Emit(post=post))
    calls: list[str] = []
    with capture(post) as events:
        result = module.Job().finish(
            False, lambda: calls.append("success"), lambda: calls.append("done")
        )
        assert not runs_its_body(vars(module.Job)["finish"].__code__)
    assert calls == ["done"]
    assert str(result) == "-0.0" and str(events[0].kwargs["result"]) == "-0.0"


def test_two_modules_with_the_same_function_each_run_their_own_file(
    modules: Callable[[str, str], types.ModuleType],
) -> None:
    source = "class Handler:\n    def handle(self, x):\n        return 1 / x\n"
    first, second = modules("plugin_one", source), modules("plugin_two", source)
    assert first.Handler.handle.__code__ == second.Handler.handle.__code__  # equal, two files
    post = Signal()
    for module in (first, second):
        weave((module.Handler, "handle"), Emit(post=post))
    with capture(post):
        for module in (first, second):
            module.Handler().handle(1)
            code = vars(module.Handler)["handle"].__code__
            assert code.co_filename == module.__file__ and "_ew_snd" in code.co_varnames
            with pytest.raises(ZeroDivisionError) as info:
                module.Handler().handle(0)
            assert traceback.extract_tb(info.value.__traceback__)[-1].filename == module.__file__


class Connection:
    log: list[str] = []

    def __init__(self) -> None:
        self.log.append("open")

    def __del__(self) -> None:
        self.log.append("closed")


class Repository:
    def fetch(self, key: int) -> tuple[int, bool]:
        connection = Connection()
        row = (key, connection is not None)
        return row

    def named(self, amount: int) -> Any:
        made = lambda: amount  # noqa: E731 - a lambda the body makes
        return made

    def peeks(self, amount: int) -> list[str]:
        import builtins

        return sorted(builtins.locals())

    def frames(self, amount: int) -> list[str]:
        from inspect import currentframe as here

        frame = here()
        return sorted(frame.f_code.co_varnames) if frame else []


def test_the_bodys_locals_go_before_the_post_event_as_when_it_returns() -> None:
    post = Signal()
    post.connect(lambda **named: Connection.log.append("post event"), weak=False)
    weave((Repository, "fetch"), Emit(post=post))
    Repository().fetch(0)  # builds the form
    Connection.log.clear()
    assert Repository().fetch(1) == (1, True)
    assert runs_its_body(vars(Repository)["fetch"].__code__)
    assert Connection.log == ["open", "closed", "post event"]


def test_what_the_body_makes_is_named_after_the_function() -> None:
    post = Signal()
    weave((Repository, "named"), Emit(post=post))
    with capture(post):
        made = Repository().named(2)
        assert runs_its_body(vars(Repository)["named"].__code__)
    assert made() == 2
    assert made.__qualname__ == "Repository.named.<locals>.<lambda>"


@pytest.mark.parametrize("name", ["peeks", "frames"])
def test_locals_or_frames_reached_through_another_spelling_are_not_compiled_in(
    name: str,
) -> None:
    post = Signal()
    weave((Repository, name), Emit(post=post))
    with capture(post):
        seen = getattr(Repository(), name)(1)
        assert not runs_its_body(vars(Repository)[name].__code__)
    assert not [local for local in seen if local.startswith("_ew_")]


def test_a_form_built_while_a_tracer_runs_calls_the_function() -> None:
    # A coverage tool or a debugger sees the function's lines as without eventweave.
    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: None)
    try:
        code = listening_code(Invoice, "pay", 1)
    finally:
        sys.settrace(previous)
    assert code.co_filename.startswith("<eventweave woven ")


def deepest(depth: int) -> str:
    lines = ["class Deep:", "    def run(self, n):", "        total = 0"]
    for level in range(depth):
        lines.append("        " + "    " * level + f"for i{level} in range(n):")
    lines.append("        " + "    " * depth + "total += 1")
    lines.append("        return total")
    return "\n".join(lines) + "\n"


def test_a_body_the_form_cannot_hold_is_called(
    modules: Callable[[str, str], types.ModuleType],
) -> None:
    # The form's own try block takes a body nested as deep as the compiler
    # allows past its limit.
    depth = 1
    while True:
        try:
            compile(deepest(depth + 1), "<deepest>", "exec")
        except SyntaxError:
            break
        depth += 1
    deep = modules("deepest_loops", deepest(depth)).Deep
    assert _inline.body_of(deep.run) is not None
    pre, post, error = Signal(), Signal(), Signal()
    weave((deep, "run"), Emit(pre, post, error))  # an error signal: the form has a try
    with capture(post) as events:
        assert deep().run(1) == 1
        assert deep().run(1) == 1  # and again: the failure is not paid per call
        assert vars(deep)["run"].__code__.co_filename.startswith("<eventweave woven ")
    assert [e.kwargs["result"] for e in events] == [1, 1]
