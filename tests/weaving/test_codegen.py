"""Tests for `eventweave._weaving._codegen`: generated wrappers, gates, linecache."""

from __future__ import annotations

import contextlib
import dis
import inspect
import linecache
import os
import sys
import traceback
import types
from typing import Any

import pytest
import wrapt

from eventweave import Emit, Signal, silent, weave
from eventweave._weaving import Advice, Hook, Site
from eventweave._weaving._codegen import (
    DISABLE_ENV,
    INPLACE_ENV,
    can_generate,
    compose,
    kind_of,
    names_of,
    passthrough,
    shape_of,
)
from eventweave.testing import capture


class Listening:
    """A gate object: ``receivers`` says whether anyone listens."""

    def __init__(self, on: bool = False) -> None:
        self.receivers: tuple[Any, ...] = ("someone",) if on else ()


class Recorder(Advice):
    """An advice recording what the wrapper hands to its hook."""

    def __init__(self, gate: tuple[Any, ...] | None = None, label: str = "r") -> None:
        self.gate = gate
        self.label = label
        self.log: list[tuple[Any, ...]] = []

    def bind(self, site: Site) -> Hook:
        return RecordingHook(self, site)


class RecordingHook(Hook):
    def __init__(self, advice: Recorder, site: Site) -> None:
        self.advice = advice
        self.site = site

    @property
    def gate(self) -> tuple[Any, ...] | None:
        return self.advice.gate

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        self.advice.log.append(("before", self.advice.label, self_, args, kwargs, named))
        return self.advice.label

    def after(self, state: Any, result: Any) -> Any:
        self.advice.log.append(("after", state, result))
        return result

    def error(self, state: Any, exception: BaseException) -> None:
        self.advice.log.append(("error", state, exception))


class Invoice:
    # Each method returns before its end: a listening form calls it rather than
    # running its body itself (see test_inline.py), so the generated source
    # is what these tests see.
    def pay(self, amount: int, currency: str = "EUR") -> str:
        if not amount:
            return currency
        raise ValueError(f"cannot pay {amount} {currency}")

    def settle(self, amount: int) -> int:
        if amount < 0:
            return 0
        return amount


_default: list[int] = []
_kw_default: dict[str, int] = {}


def with_defaults(items: list[int] = _default, *, options: dict[str, int] = _kw_default) -> Any:
    return items, options


def positional_only(a: int, b: int, /, c: int = 3) -> tuple[int, int, int]:
    return a, b, c


def anything(first: int, *rest: int, flag: bool = False, **extra: Any) -> Any:
    return first, rest, flag, extra


def module() -> types.ModuleType:
    return sys.modules[__name__]


@pytest.fixture(autouse=True)
def _generated(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about generated code, even when the suite forces the wrapt path."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)


def woven_form(owner: Any, attribute: str) -> types.CodeType:
    """The code a woven function runs right now."""
    return getattr(vars(owner)[attribute], "__func__", vars(owner)[attribute]).__code__


def listen_once(owner: Any, attribute: str, *args: Any) -> None:
    """Call the woven target once, so that its listening form is built and installed."""
    with contextlib.suppress(ValueError):
        getattr(owner(), attribute)(*args)


def test_listening_form_is_built_on_the_first_call_and_named_after_the_target() -> None:
    signal = Signal()
    weave((Invoice, "pay"), Emit(signal))
    with capture(signal):
        first = woven_form(Invoice, "pay")
        assert first.co_filename == f"<eventweave first call {__name__}:Invoice.pay>"
        listen_once(Invoice, "pay", 1)
        code = woven_form(Invoice, "pay")
    assert code.co_filename == f"<eventweave woven {__name__}:Invoice.pay>"
    assert code.co_name == "pay"


def test_a_wrappers_idle_form_is_named_after_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INPLACE_ENV, "1")
    weave((Invoice, "pay"), Emit(Signal()))
    code = woven_form(Invoice, "pay")
    assert code.co_filename == f"<eventweave wrapper {__name__}:Invoice.pay>"
    assert linecache.getline(code.co_filename, code.co_firstlineno + 2).strip() == (
        "return _ew_original(self, amount, currency)"
    )


def test_generated_source_is_in_linecache_with_no_mtime_until_unwoven() -> None:
    signal = Signal()
    weaving = weave((Invoice, "pay"), Emit(signal))
    with capture(signal):
        listen_once(Invoice, "pay", 1)
        filename = woven_form(Invoice, "pay").co_filename
        _size, mtime, lines, name = linecache.cache[filename]  # type: ignore[misc]
        assert mtime is None  # so linecache.checkcache() keeps it
        assert name == filename
        assert any("_ew_original(self, amount, currency)" in line for line in lines)
        linecache.checkcache()
        assert linecache.getline(filename, 1) == lines[0]
        weaving.unweave()
    assert filename not in linecache.cache  # nothing left behind


@pytest.mark.parametrize("listening", [False, True], ids=["no receivers", "receivers"])
def test_traceback_through_a_woven_call_shows_the_generated_line(
    listening: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INPLACE_ENV, "1")  # a wrapper adds a frame even while idle
    signal = Signal()
    weave((Invoice, "pay"), Emit(signal))
    if listening:
        signal.connect(lambda **kw: None, weak=False)
    with pytest.raises(ValueError) as info:
        Invoice().pay(3)
    frames = traceback.extract_tb(info.value.__traceback__)
    role = "woven" if listening else "wrapper"
    woven = [f for f in frames if f.filename == f"<eventweave {role} {__name__}:Invoice.pay>"]
    assert len(woven) == 1
    assert woven[0].line is not None
    assert "_ew_original(self, amount, currency)" in woven[0].line
    formatted = "".join(traceback.format_exception(info.value))
    assert woven[0].line in formatted


def test_traceback_through_a_function_woven_in_place_has_no_extra_frame_while_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(INPLACE_ENV, raising=False)
    weave((Invoice, "pay"), Emit(Signal()))
    with pytest.raises(ValueError) as info:
        Invoice().pay(3)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert not [f for f in frames if f.filename.startswith("<eventweave")]
    assert frames[-1].name == "pay" and frames[-1].filename == __file__


def test_stacked_weavings_share_one_listening_form_naming_the_target() -> None:
    first, second = Signal(), Signal()
    weave((Invoice, "pay"), Emit(first))
    weave((Invoice, "pay"), Emit(second))
    with capture(first, second):
        listen_once(Invoice, "pay", 1)
        code = woven_form(Invoice, "pay")
    assert code.co_filename == f"<eventweave woven {__name__}:Invoice.pay>"


def test_generated_code_takes_the_targets_parameters_without_packing() -> None:
    signal = Signal()
    original = vars(Invoice)["settle"].__code__
    weave((Invoice, "settle"), Emit(signal))
    with capture(signal):
        listen_once(Invoice, "settle", 1)
        code = woven_form(Invoice, "settle")
    assert code is not original
    assert code.co_argcount == original.co_argcount
    assert code.co_varnames[: code.co_argcount] == ("self", "amount")
    assert not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)


def test_generated_code_reads_no_global_of_the_users_module() -> None:
    signal = Signal()
    weave((Invoice, "settle"), Emit(signal))
    with capture(signal):
        listen_once(Invoice, "settle", 1)
        code = woven_form(Invoice, "settle")
    assert code.co_names == tuple(n for n in code.co_names if not n.startswith("_ew_"))
    loads = [i for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
    assert loads == []


def test_templates_are_shared_by_functions_of_the_same_shape() -> None:
    def make() -> type:
        class Twin:
            def settle(self, amount: int) -> int:
                return amount

        return Twin

    one, two = make(), make()
    signal = Signal()
    weave((one, "settle"), Emit(signal))
    weave((two, "settle"), Emit(signal))
    with capture(signal):
        listen_once(one, "settle", 1)
        listen_once(two, "settle", 1)
        first, second = woven_form(one, "settle"), woven_form(two, "settle")
    assert first is not second
    assert first.co_code == second.co_code
    # each calls its own original
    assert first.co_consts != second.co_consts


def test_defaults_are_the_original_objects() -> None:
    weave((module(), "with_defaults"), Emit(Signal()))
    items, options = with_defaults()
    assert items is _default
    assert options is _kw_default


def test_positional_only_parameters_stay_positional_only() -> None:
    weave((module(), "positional_only"), Emit(Signal()))
    assert positional_only(1, 2) == (1, 2, 3)
    with pytest.raises(TypeError, match="positional-only"):
        positional_only(1, b=2)  # type: ignore[call-arg]


def test_closed_gate_skips_the_hook() -> None:
    advice = Recorder(gate=(Listening(False),))
    weave((Invoice, "settle"), advice)
    assert Invoice().settle(5) == 5
    assert advice.log == []


def test_gate_opens_when_its_object_gets_receivers() -> None:
    gate = Listening(False)
    advice = Recorder(gate=(gate,))
    weave((Invoice, "settle"), advice)
    gate.receivers = ("someone",)
    invoice = Invoice()
    invoice.settle(5)
    assert advice.log == [
        ("before", "r", invoice, (5,), {}, {"amount": 5}),
        ("after", "r", 5),
    ]


def test_gate_none_runs_the_hook_on_every_call() -> None:
    advice = Recorder(gate=None)
    weave((Invoice, "settle"), advice)
    Invoice().settle(1)
    Invoice().settle(2)
    assert [entry[0] for entry in advice.log] == ["before", "after", "before", "after"]


def test_hook_sees_varargs_in_args_and_keywords_expanded_in_named() -> None:
    advice = Recorder()
    weave((module(), "anything"), advice)
    assert anything(1, 2, 3, flag=True, colour="red") == (1, (2, 3), True, {"colour": "red"})
    (_, _, self_, args, kwargs, named), _ = advice.log
    assert self_ is None
    assert args == (1, 2, 3)
    assert kwargs == {"flag": True, "colour": "red"}
    assert named == {"first": 1, "rest": (2, 3), "flag": True, "colour": "red"}


def test_value_returned_by_after_is_what_the_caller_gets() -> None:
    class Doubling(Recorder):
        def bind(self, site: Site) -> Hook:
            hook = RecordingHook(self, site)
            hook.after = lambda state, result: result * 2  # type: ignore[method-assign]
            return hook

    weave((Invoice, "settle"), Doubling())
    assert Invoice().settle(21) == 42


def test_hook_error_hears_the_exception_and_it_is_reraised() -> None:
    advice = Recorder()
    weave((Invoice, "pay"), advice)
    with pytest.raises(ValueError) as info:
        Invoice().pay(1)
    assert advice.log[-1] == ("error", "r", info.value)


def test_parameter_named_type_does_not_break_the_wrapper() -> None:
    class Catalogue:
        def create(self, name: str, type: str = "item") -> tuple[str, str]:
            return name, type

    signal = Signal()
    weave((Catalogue, "create"), Emit(signal))
    seen: list[Any] = []
    signal.connect(lambda sender, **kw: seen.append(sender), weak=False)
    assert Catalogue().create("a", type="folder") == ("a", "folder")
    assert seen == [Catalogue]


@pytest.mark.parametrize("name", ["type", "getattr", "isinstance", "Exception"])
def test_method_named_like_a_builtin_is_woven_without_recursion(name: str) -> None:
    # Once any class is silenced, the wrapper also checks the sender for the marker.
    silent(type("Quiet", (), {}))
    namespace: dict[str, Any] = {}
    exec(f"def {name}(self, x):\n    return x * 2\n", namespace)
    cls = type("Shape", (), {name: namespace[name], "__module__": __name__})
    signal = Signal()
    weave((cls, name), Emit(signal, signal, signal))
    got: list[Any] = []
    signal.connect(lambda sender, **kw: got.append(sender), weak=False)
    assert getattr(cls(), name)(4) == 8
    assert got == [cls, cls]


def test_parameter_with_the_internal_prefix_gets_the_general_wrapper() -> None:
    def odd(_ew_value: int) -> int:
        return _ew_value

    holder = types.ModuleType("holder")
    holder.odd = odd  # type: ignore[attr-defined]
    assert not can_generate(odd)
    weave((holder, "odd"), Emit(Signal()))
    assert isinstance(holder.odd, wrapt.FunctionWrapper)
    assert holder.odd(7) == 7


def test_disabling_code_generation_forces_the_general_wrapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTWEAVE_DISABLE_CODEGEN", "1")
    weave((Invoice, "settle"), Emit(Signal()))
    assert isinstance(vars(Invoice)["settle"], wrapt.FunctionWrapper)
    assert Invoice().settle(3) == 3


def test_shape_of_reads_the_code_not_a_claimed_signature() -> None:
    def real(a: int, b: int = 2, *, c: int) -> None:
        pass

    real.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
    shape = shape_of(real)  # type: ignore[arg-type]
    assert shape.positional == ("a", "b")
    assert shape.kwonly == ("c",)


def _parameter_lists() -> list[Any]:
    def plain(a, b):  # type: ignore[no-untyped-def]
        pass

    def everything(a, b=1, /, c=2, *rest, d, e=3, **more):  # type: ignore[no-untyped-def]
        local = 1
        return local

    def keywords(*, k, **more):  # type: ignore[no-untyped-def]
        pass

    def none():  # type: ignore[no-untyped-def]
        x = 1
        return x

    def closure():  # type: ignore[no-untyped-def]
        y = 2

        def inner(z, *args):  # type: ignore[no-untyped-def]
            w = y
            return w, z

        return inner

    return [plain, everything, keywords, none, closure()]


@pytest.mark.parametrize("function", _parameter_lists(), ids=lambda f: f.__name__)
def test_names_of_and_shape_of_list_the_parameters_named_then_starred(function: Any) -> None:
    signature = inspect.signature(function)
    starred = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    named = [p.name for p in signature.parameters.values() if p.kind not in starred]
    stars = [p.name for p in signature.parameters.values() if p.kind in starred]
    expected = (*named, *stars)  # as co_varnames begins
    shape = shape_of(function)
    assert names_of(function) == expected
    assert shape.names == expected
    kinds = [p.kind for p in signature.parameters.values()]
    assert shape.posonly == kinds.count(inspect.Parameter.POSITIONAL_ONLY)
    assert len(shape.kwonly) == kinds.count(inspect.Parameter.KEYWORD_ONLY)


def test_functions_of_one_parameter_list_share_their_shape() -> None:
    def first(a, *, b):  # type: ignore[no-untyped-def]
        pass

    def second(a, *, b=1):  # type: ignore[no-untyped-def]
        c = a
        return c

    assert shape_of(first) is shape_of(second)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "source",
    [
        "def f(): pass",
        "def f(): yield 1",
        "async def f(): pass",
        "async def f(): yield 1",
        "async def f(): await g()",
    ],
)
def test_kind_of_agrees_with_inspect(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    function = namespace["f"]
    expected = (
        "async"
        if inspect.iscoroutinefunction(function)
        else "asyncgen"
        if inspect.isasyncgenfunction(function)
        else "gen"
        if inspect.isgeneratorfunction(function)
        else "sync"
    )
    assert kind_of(function) == expected


def test_compose_runs_every_phase_in_weave_order() -> None:
    first, second = Recorder(label="first"), Recorder(label="second")
    log: list[str] = []
    first.log = second.log = log  # type: ignore[assignment]
    site = Site("t", None, "f", "function", anything, ("first",), False)
    before, after, _ = compose([first.bind(site), second.bind(site)])
    states = before(None, (1,), {}, {"first": 1})
    after(states, 1)
    assert [(entry[0], entry[1]) for entry in log] == [
        ("before", "first"),
        ("before", "second"),
        ("after", "first"),
        ("after", "second"),
    ]


def test_every_hook_hears_after_even_when_an_earlier_one_raises() -> None:
    class Failing(Recorder):
        def bind(self, site: Site) -> Hook:
            hook = RecordingHook(self, site)

            def fail(state: Any, result: Any) -> Any:
                raise ValueError("after failed")

            hook.after = fail  # type: ignore[method-assign]
            return hook

    first, second = Failing(label="first"), Recorder(label="second")
    site = Site("t", None, "f", "function", anything, ("first",), False)
    before, after, _ = compose([first.bind(site), second.bind(site)])
    states = before(None, (1,), {}, {"first": 1})
    with pytest.raises(ValueError, match="after failed"):
        after(states, 1)
    assert second.log[-1] == ("after", "second", 1)


def test_veto_by_a_later_hook_is_reported_to_the_hooks_entered_before_it() -> None:
    class Vetoing(Recorder):
        def bind(self, site: Site) -> Hook:
            hook = RecordingHook(self, site)

            def veto(*args: Any) -> Any:
                raise PermissionError("no")

            hook.before = veto  # type: ignore[method-assign,assignment]
            return hook

    first, second = Recorder(label="first"), Vetoing(label="second")
    site = Site("t", None, "f", "function", anything, ("first",), False)
    before, _, _ = compose([first.bind(site), second.bind(site)])
    with pytest.raises(PermissionError) as info:
        before(None, (1,), {}, {"first": 1})
    assert first.log[-1] == ("error", "first", info.value)
    assert second.log == []


class Watchable:
    """A gate object that announces when its receivers may have changed."""

    def __init__(self) -> None:
        self.receivers: tuple[Any, ...] = ()
        self.callbacks: list[Any] = []

    def __eventweave_watch__(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def listen(self, on: bool) -> None:
        self.receivers = ("someone",) if on else ()
        for callback in list(self.callbacks):
            callback()


def test_watched_gate_switches_the_code_on_announcements() -> None:
    watched = Watchable()
    advice = Recorder(gate=(watched,))
    idle = vars(Invoice)["settle"].__code__
    weave((Invoice, "settle"), advice)
    function = vars(Invoice)["settle"]
    assert function.__code__ is idle or INPLACE_ENV in os.environ
    Invoice().settle(1)
    watched.listen(True)
    Invoice().settle(2)
    assert function.__code__.co_filename.startswith("<eventweave woven ")
    watched.listen(False)
    assert not function.__code__.co_filename.startswith("<eventweave woven ")
    Invoice().settle(3)
    assert [entry[3] for entry in advice.log if entry[0] == "before"] == [(2,)]


def test_unweaving_stops_watching_the_gate() -> None:
    watched = Watchable()
    weave((Invoice, "settle"), Recorder(gate=(watched,))).unweave()
    assert watched.callbacks == []


def test_pass_throughs_of_one_shape_each_call_their_own_original() -> None:
    def first(x, *, y=1):  # type: ignore[no-untyped-def]
        return ("first", x, y)

    def second(x, *, y=2):  # type: ignore[no-untyped-def]
        return ("second", x, y)

    def gen(x, *, y=3):  # type: ignore[no-untyped-def]
        yield x
        return y

    forms = [
        passthrough(f, f, target=f"t:{f.__name__}", shape=shape_of(f), kind=kind_of(f))
        for f in (first, second, first, gen)
    ]
    assert forms[0].code is not forms[2].code  # one code object per pass-through
    made = [
        types.FunctionType(form.code, {}, f.__name__, f.__defaults__)
        for form, f in zip(forms, (first, second, first, gen), strict=True)
    ]
    for function in made[:3]:
        function.__kwdefaults__ = {"y": 9}
    assert made[0](1) == ("first", 1, 9)
    assert made[1](2, y=5) == ("second", 2, 5)
    assert made[2](3) == ("first", 3, 9)
    made[3].__kwdefaults__ = {"y": 7}
    generator = made[3](4)
    assert next(generator) == 4
    with pytest.raises(StopIteration) as stop:
        next(generator)
    assert stop.value.value == 7
    assert [form.code.co_name for form in forms] == ["first", "second", "first", "gen"]
    assert forms[1].code.co_filename == "<eventweave wrapper t:second>"
