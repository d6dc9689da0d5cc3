"""Weaving in place: a function's own code object switches, every reference emits.

Each behaviour is checked on the paths that can serve the target: in place
(a function defined under the target's very name), and through a generated
wrapper (``EVENTWEAVE_DISABLE_INPLACE``), which must give the same events.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import sys
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from eventweave import Emit, Signal, emits, unweave_all, weave
from eventweave._weaving import code_of, slots
from eventweave._weaving._codegen import INPLACE_ENV
from eventweave.testing import capture


@pytest.fixture(params=["inplace", "wrapper"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "wrapper":
        monkeypatch.setenv(INPLACE_ENV, "1")
    else:
        monkeypatch.delenv(INPLACE_ENV, raising=False)
    return str(request.param)


@pytest.fixture
def inplace(monkeypatch: pytest.MonkeyPatch) -> None:
    """In place, even when the suite runs with wrappers forced."""
    monkeypatch.delenv(INPLACE_ENV, raising=False)


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    yield
    unweave_all()
    assert not list(slots())


@pytest.fixture
def signals() -> tuple[Signal, Signal, Signal]:
    return Signal(), Signal(), Signal()


def module_of(source: str, name: str = "inplace_target") -> types.ModuleType:
    """A module made from ``source``, registered so that targets can name it."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), vars(module))
    sys.modules[name] = module
    return module


@pytest.fixture
def billing() -> Iterator[types.ModuleType]:
    module = module_of(
        "def pay(amount, currency='EUR'):\n"
        "    return f'{amount} {currency}'\n"
        "class Invoice:\n"
        "    def total(self, n):\n"
        "        return n * 2\n",
        "inplace_billing",
    )
    yield module
    sys.modules.pop("inplace_billing", None)


# -- what in place means ------------------------------------------------------------


@pytest.mark.usefixtures("inplace")
def test_a_function_defined_under_its_name_is_woven_without_replacing_it(
    billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    original, code = billing.pay, billing.pay.__code__
    weave("inplace_billing:pay", Emit(*signals))
    assert billing.pay is original
    assert billing.pay.__code__ is code  # its own code while nobody listens
    with capture(*signals):
        assert billing.pay.__code__ is not code
        assert code_of(billing.pay) is code  # what code that reads __code__ should read
    assert billing.pay.__code__ is code


@pytest.mark.usefixtures("inplace")
def test_a_reference_taken_before_weaving_emits(
    billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    pay = billing.pay  # from inplace_billing import pay
    weave("inplace_billing:pay", Emit(*signals))
    with capture(*signals) as events:
        assert pay(3) == "3 EUR"
    assert [event.signal for event in events] == [signals[0], signals[1]]


def test_a_reference_in_another_namespace_is_woven_by_a_wrapper_there_only(
    billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    views = module_of("", "inplace_views")
    views.pay = billing.pay  # type: ignore[attr-defined]  # from billing import pay
    try:
        weave("inplace_views:pay", Emit(*signals))
        assert views.pay is not billing.pay  # type: ignore[attr-defined]
        with capture(*signals) as events:
            billing.pay(1)  # not through views: nothing
            views.pay(2)  # type: ignore[attr-defined]
        assert [event.kwargs["amount"] for event in events] == [2, 2]
    finally:
        sys.modules.pop("inplace_views", None)


@pytest.mark.usefixtures("inplace")
def test_a_class_made_from_another_and_sharing_its_function_is_woven_by_a_wrapper(
    billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    # type() gives the new class the other one's name, module and very function.
    Base = billing.Invoice
    made = type("Invoice", (Base,), {"total": Base.__dict__["total"]})
    copied = type("Invoice", (), dict(Base.__dict__))
    code = Base.total.__code__
    weave((made, "total"), Emit(*signals))
    weave((copied, "total"), Emit(*signals))

    with capture(*signals) as events:
        assert Base().total(1) == 2  # the class it came from: untouched
        assert made().total(2) == 4
        assert copied().total(3) == 6
    assert Base.total.__code__ is code
    assert [event.kwargs["n"] for event in events] == [2, 2, 3, 3]


@pytest.mark.usefixtures("inplace")
def test_a_class_whose_module_now_names_another_is_woven_by_a_wrapper(
    signals: tuple[Signal, ...],
) -> None:
    module = module_of("class Invoice:\n    def total(self, n):\n        return n * 2\n")
    try:
        old = module.Invoice
        original = vars(old)["total"]
        code = original.__code__
        exec("class Invoice:\n    def total(self, n):\n        return n * 3\n", vars(module))
        weave((old, "total"), Emit(*signals))

        with capture(*signals) as events:
            assert module.Invoice().total(1) == 3
            assert old().total(2) == 4
        assert [event.kwargs["n"] for event in events] == [2, 2]
        assert vars(old)["total"] is not original  # a wrapper in its place
        assert original.__code__ is code
    finally:
        sys.modules.pop("inplace_target", None)


def test_a_reference_taken_before_unweaving_never_emits_afterwards(
    path: str, billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    weaving = weave((billing.Invoice, "total"), Emit(*signals))
    taken = billing.Invoice.total
    with capture(*signals) as events:
        weaving.unweave()
        assert taken(billing.Invoice(), 2) == 4
        assert billing.Invoice().total(3) == 6
    assert events == []


def test_a_wrapper_captured_before_a_new_layer_runs_every_current_layer(
    path: str, billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    pre, post, _ = signals
    first = weave((billing.Invoice, "total"), Emit(pre))
    taken = billing.Invoice.total
    weave((billing.Invoice, "total"), Emit(post=post))
    first.unweave()
    with capture(pre, post) as events:
        taken(billing.Invoice(), 1)
    assert [event.signal for event in events] == [post]


def test_either_signal_gaining_a_receiver_switches_and_unweaving_stops_all_watching(
    path: str, billing: types.ModuleType, signals: tuple[Signal, ...]
) -> None:
    pre, post, error = signals
    invoice = billing.Invoice()
    original = vars(billing.Invoice)["total"]
    own_code = original.__code__
    weave((billing.Invoice, "total"), Emit(pre, post, error))
    woven = vars(billing.Invoice)["total"]
    idle = code_of(woven)
    for signal in (post, pre, error):
        with capture(signal) as events:
            assert woven.__code__ is not idle
            assert invoice.total(2) == 4
        assert len(events) == (0 if signal is error else 1)
        assert woven.__code__ is idle  # nobody listens again
    unweave_all()
    assert not pre._watchers and not post._watchers and not error._watchers
    assert vars(billing.Invoice)["total"] is original
    assert original.__code__ is own_code


def test_weaving_while_someone_listens_emits_from_the_first_call(
    path: str, signals: tuple[Signal, ...]
) -> None:
    module = module_of(
        "def plain(a, /, b=2, *rest, c, d=4, **more):\n"
        "    return (a, b, rest, c, d, more)\n"
        "def gen(n):\n"
        "    yield n\n"
        "    return n + 1\n"
        "async def coro(n):\n"
        "    return n * 3\n"
        "async def agen(n):\n"
        "    yield n\n",
        "inplace_first_call",
    )
    pre, post, _ = signals
    with capture(pre, post) as events:
        for name in ("plain", "gen", "coro", "agen"):
            weave((module, name), Emit(pre, post))
        assert module.plain(1, c=3, e=5) == (1, 2, (), 3, 4, {"e": 5})
        assert list(module.gen(7)) == [7]
        assert asyncio.run(module.coro(2)) == 6

        async def drain() -> list[int]:
            return [x async for x in module.agen(9)]

        assert asyncio.run(drain()) == [9]
        assert module.plain(6, 7, 8, c=9) == (6, 7, (8,), 9, 4, {})
    sent = [(e.signal is pre, e.kwargs.get("result")) for e in events]
    assert sent == [
        (True, None),
        (False, (1, 2, (), 3, 4, {"e": 5})),
        (True, None),
        (False, 8),
        (True, None),
        (False, 6),
        (True, None),
        (False, None),
        (True, None),
        (False, (6, 7, (8,), 9, 4, {})),
    ]
    sys.modules.pop("inplace_first_call", None)


def test_recursion_emits_once_per_level(path: str, signals: tuple[Signal, ...]) -> None:
    module = module_of(
        "def factorial(n):\n    return 1 if n <= 1 else n * factorial(n - 1)\n", "inplace_rec"
    )
    try:
        weave("inplace_rec:factorial", Emit(signals[0]))
        with capture(signals[0]) as events:
            assert module.factorial(4) == 24
        assert [event.kwargs["n"] for event in events] == [4, 3, 2, 1]
    finally:
        sys.modules.pop("inplace_rec", None)


# -- what a function's code may hold ---------------------------------------------


def make_classes() -> tuple[type, type]:
    class Base:
        def greet(self, name: str) -> str:
            return f"hello {name}"

    class Derived(Base):
        def greet(self, name: str) -> str:
            # zero-argument super() reads the __class__ cell of this function
            return super().greet(name).upper() + f" from {__class__.__name__}"

    return Base, Derived


def test_zero_argument_super_and_class_cell_survive(path: str, signals: tuple[Signal, ...]) -> None:
    _, derived = make_classes()
    weave((derived, "greet"), Emit(*signals))
    with capture(*signals) as events:
        assert derived().greet("ann") == "HELLO ANN from Derived"
    assert events[1].kwargs["result"] == "HELLO ANN from Derived"


def test_closures_defaults_and_keyword_only_parameters_survive(
    path: str, signals: tuple[Signal, ...]
) -> None:
    factor = 3
    marker = object()

    class Calc:
        def run(self, a: int, b: int = 2, *rest: int, scale: int = 10, **extra: Any) -> Any:
            return (a + b + sum(rest)) * scale * factor, extra, marker

    weave((Calc, "run"), Emit(*signals))
    with capture(*signals) as events:
        assert Calc().run(1) == (90, {}, marker)
        assert Calc().run(1, 1, 1, scale=1, flag=True) == (9, {"flag": True}, marker)
    first = events[0].kwargs
    assert first["a"] == 1 and first["b"] == 2 and first["scale"] == 10 and first["rest"] == ()


def test_positional_only_parameter_is_sent_with_its_value_not_a_keyword_of_that_name(
    path: str, signals: tuple[Signal, ...]
) -> None:
    class Odd:
        def call(self, a: int, /, **kw: Any) -> Any:
            return a, kw

    weave((Odd, "call"), Emit(signals[0]))
    with capture(signals[0]) as events:
        assert Odd().call(1, a=2) == (1, {"a": 2})
    sent = events[0].kwargs
    assert sent["a"] == 1
    assert sent["instance"] == 1
    assert sent["kwargs"] == {"a": 2}


def test_decorated_target_sends_the_parameters_its_signature_shows(
    path: str, signals: tuple[Signal, ...]
) -> None:
    def logged(function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        return wrapper

    class Auth:
        @logged
        def authenticate(self, request: Any = None, **credentials: Any) -> Any:
            return credentials.get("username")

    weave((Auth, "authenticate"), Emit(*signals))
    with capture(*signals) as events:
        assert Auth().authenticate("req", username="ann", password="pw") == "ann"
    sent = events[0].kwargs
    assert sent["request"] == "req"
    assert sent["username"] == "ann"
    assert sent["password"] == "********"
    assert "args" in sent and sent["args"] == ("req",)
    assert inspect.signature(Auth.authenticate) == inspect.signature(
        inspect.unwrap(Auth.authenticate)
    )


# -- generators, coroutines, async generators -------------------------------------


def make_streams() -> type:
    class Streams:
        def numbers(self, n: int) -> Iterator[int]:
            yield from range(n)
            return "counted"  # type: ignore[misc]

        async def fetch(self, x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        async def ticks(self, n: int) -> AsyncIterator[int]:
            for i in range(n):
                await asyncio.sleep(0)
                yield i

    return Streams


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("numbers", inspect.isgeneratorfunction),
        ("fetch", inspect.iscoroutinefunction),
        ("ticks", inspect.isasyncgenfunction),
    ],
)
def test_generator_coroutine_and_async_generator_functions_stay_what_they_are(
    path: str, name: str, check: Any, signals: tuple[Signal, ...]
) -> None:
    streams = make_streams()
    weave((streams, name), Emit(*signals))
    assert check(getattr(streams, name))
    with capture(*signals):
        assert check(getattr(streams, name))


def test_generator_pre_fires_when_iteration_starts_and_post_when_it_ends(
    path: str, signals: tuple[Signal, ...]
) -> None:
    pre, post, error = signals
    streams = make_streams()
    weave((streams, "numbers"), Emit(pre, post, error))
    log: list[str] = []
    pre.connect(lambda **kw: log.append("pre"), weak=False)
    post.connect(lambda **kw: log.append(f"post {kw['result']}"), weak=False)
    generator = streams().numbers(2)
    log.append("created")
    for value in generator:
        log.append(f"got {value}")
    assert log == ["created", "pre", "got 0", "got 1", "post counted"]


def test_generator_closed_early_sends_neither_post_nor_error(
    path: str, signals: tuple[Signal, ...]
) -> None:
    streams = make_streams()
    weave((streams, "numbers"), Emit(*signals))
    with capture(*signals) as events:
        generator = streams().numbers(5)
        next(generator)
        generator.close()
    assert [event.signal for event in events] == [signals[0]]


def test_async_generator_pre_fires_when_iteration_starts_and_post_when_it_ends(
    path: str, signals: tuple[Signal, ...]
) -> None:
    streams = make_streams()
    weave((streams, "ticks"), Emit(*signals))

    async def consume() -> list[int]:
        return [i async for i in streams().ticks(3)]

    with capture(*signals) as events:
        assert asyncio.run(consume()) == [0, 1, 2]
    assert [event.signal for event in events] == [signals[0], signals[1]]
    assert events[1].kwargs["result"] is None


def test_async_generator_forwards_asend_and_athrow(path: str, signals: tuple[Signal, ...]) -> None:
    class Echo:
        async def echo(self) -> AsyncIterator[Any]:
            received = None
            while True:
                try:
                    received = yield received
                except KeyError:
                    received = "recovered"

    weave((Echo, "echo"), Emit(*signals))

    async def talk() -> list[Any]:
        generator = Echo().echo()
        answers = [await generator.asend(None), await generator.asend("hi")]
        answers.append(await generator.athrow(KeyError("x")))
        await generator.aclose()
        return answers

    with capture(*signals):
        assert asyncio.run(talk()) == [None, "hi", "recovered"]


def test_coroutine_post_fires_after_the_awaited_result(
    path: str, signals: tuple[Signal, ...]
) -> None:
    streams = make_streams()
    weave((streams, "fetch"), Emit(*signals))
    with capture(*signals) as events:
        assert asyncio.run(streams().fetch(4)) == 8
    assert events[1].kwargs["result"] == 8


# -- @emits is woven in place too ---------------------------------------------------


@pytest.mark.usefixtures("inplace")
def test_emits_returns_the_decorated_function_itself(signals: tuple[Signal, ...]) -> None:
    def step(name: str) -> str:
        return name

    decorated = emits(*signals)(step)
    assert decorated is step
    with capture(*signals) as events:
        assert decorated("x") == "x"
    assert len(events) == 2


def test_a_function_decorated_with_emits_can_be_collected(signals: tuple[Signal, ...]) -> None:
    import weakref

    def make() -> Any:
        @emits(*signals)
        def step(name: str) -> str:
            return name

        with capture(*signals):
            step("once")  # its listening form was built and used
        return weakref.ref(step)

    ref = make()
    gc.collect()
    assert ref() is None
    assert not signals[0]._watchers  # nothing left watching the signal


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "idle"])
def test_an_emits_function_whose_sender_holds_it_can_be_collected(
    signals: tuple[Signal, ...], listening: bool
) -> None:
    import weakref

    class Step:
        """A sender= object that keeps the function it sends for."""

        run: Any = None

    def make() -> Any:
        owner = Step()

        @emits(*signals, sender=owner)
        def step(name: str) -> str:
            return name

        owner.run = step
        with capture(*signals) as events:
            step("once")  # its listening form was built and used
        assert events and events[0].sender is owner
        if not listening:
            step("idle")
        return weakref.ref(step), weakref.ref(owner)

    ref, owner = make()
    gc.collect()
    assert ref() is None
    assert owner() is None
