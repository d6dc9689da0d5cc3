"""A listening form running the woven function's own body (no call, no second frame).

Where a function is woven in place and its body allows it, the body is
compiled into the listening form where the call of the original was. The
events must be those of the call path, the body's lines must keep their
file and numbers (tracebacks, breakpoints, coverage), and every function
whose body does not allow it must still be called.
"""

from __future__ import annotations

import linecache
import math
import sys
import traceback
import types
from collections.abc import Iterator
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


def test_a_closure_and_a_function_without_source_are_called() -> None:
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
    tax.__code__ = tax.__code__.replace()  # a new code object: nothing known of it yet
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
