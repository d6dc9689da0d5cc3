"""One behaviour, every kind of target: functions, methods, descriptors, C and odd callables.

Kinds whose target is a plain Python function run on every path that can
serve them: woven in place (a function defined under that very name), through
a generated wrapper (``EVENTWEAVE_DISABLE_INPLACE`` forces it), and through
wrapt's general wrapper (``EVENTWEAVE_DISABLE_CODEGEN``).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from eventweave import Emit, Signal, weave
from eventweave._weaving import Advice, Hook, Site
from eventweave._weaving._codegen import DISABLE_ENV, INPLACE_ENV
from eventweave._weaving._targets import MISSING
from eventweave.testing import capture

GOOD, BAD = 4.0, -1.0  # sqrt(GOOD) works, sqrt(BAD) raises ValueError


@dataclass
class Kind:
    """A target of one kind, built fresh for each test."""

    owner: Any
    attribute: str
    call: Callable[[Any], Any]  # calls the target through the owner, awaiting if needed
    sender: Any  # what the default sender rule must give
    parameter: str  # the name of the first parameter after self
    python: bool  # a plain Python function underneath: generated code applies
    inplace: bool = False  # defined under that very name: woven in place by default
    path: str = "wrapper"  # "inplace", "wrapper" or "wrapt"


def run(value: Any) -> Any:
    return asyncio.run(value) if inspect.iscoroutine(value) else value


def module(**attributes: Any) -> types.ModuleType:
    namespace = types.ModuleType("kinds_target")
    vars(namespace).update(attributes)
    return namespace


def sqrt(x: float) -> float:
    """Square root."""
    return math.sqrt(x)


class Sqrt:
    """A callable object."""

    def __call__(self, x: float) -> float:
        return math.sqrt(x)


class AsyncSqrt:
    """A callable object whose call is a coroutine."""

    async def __call__(self, x: float) -> float:
        await asyncio.sleep(0)
        return math.sqrt(x)


def make_service() -> type:
    class Service:
        """A service."""

        def method(self, x: float) -> float:
            """Square root, as a method."""
            return math.sqrt(x)

        @classmethod
        def klass(cls, x: float) -> float:
            """Square root, as a classmethod."""
            return math.sqrt(x)

        @staticmethod
        def static(x: float) -> float:
            """Square root, as a staticmethod."""
            return math.sqrt(x)

        async def coroutine(self, x: float) -> float:
            """Square root, after an await."""
            await asyncio.sleep(0)
            return math.sqrt(x)

    return Service


def function_kind() -> Kind:
    owner = module(sqrt=sqrt)
    return Kind(owner, "sqrt", lambda x: owner.sqrt(x), owner, "x", True)


def method_kind() -> Kind:
    service = make_service()
    return Kind(service, "method", lambda x: service().method(x), service, "x", True, True)


def classmethod_kind() -> Kind:
    service = make_service()
    sub: Any = type("SubService", (service,), {})
    return Kind(service, "klass", lambda x: sub.klass(x), sub, "x", True, True)


def staticmethod_kind() -> Kind:
    service = make_service()
    return Kind(service, "static", lambda x: service().static(x), service, "x", True, True)


def async_kind() -> Kind:
    service = make_service()
    return Kind(
        service, "coroutine", lambda x: run(service().coroutine(x)), service, "x", True, True
    )


def inherited_kind() -> Kind:
    service = make_service()
    sub = type("SubService", (service,), {})
    return Kind(sub, "method", lambda x: sub().method(x), sub, "x", True)


def instance_kind() -> Kind:
    service = make_service()
    one = service()
    return Kind(one, "method", lambda x: one.method(x), service, "x", True)


def own_function_kind() -> Kind:
    holder = make_service()()
    holder.handler = sqrt
    return Kind(holder, "handler", lambda x: holder.handler(x), type(holder), "x", True)


def builtin_kind() -> Kind:
    owner = module(sqrt=math.sqrt)
    return Kind(owner, "sqrt", lambda x: owner.sqrt(x), owner, "x", False)


def c_method_kind() -> Kind:
    vector = type("Vector", (list,), {})
    sub = type("SubVector", (vector,), {})
    return Kind(vector, "index", lambda x: sub([GOOD]).index(x), sub, "value", False)


def callable_object_kind() -> Kind:
    owner = module(sqrt=Sqrt())
    return Kind(owner, "sqrt", lambda x: owner.sqrt(x), owner, "x", False)


def async_callable_object_kind() -> Kind:
    owner = module(sqrt=AsyncSqrt())
    return Kind(owner, "sqrt", lambda x: run(owner.sqrt(x)), owner, "x", False)


KINDS: dict[str, Callable[[], Kind]] = {
    "function": function_kind,
    "method": method_kind,
    "classmethod": classmethod_kind,
    "staticmethod": staticmethod_kind,
    "async def": async_kind,
    "inherited method": inherited_kind,
    "single instance": instance_kind,
    "function on an object": own_function_kind,
    "builtin": builtin_kind,
    "C method": c_method_kind,
    "callable object": callable_object_kind,
    "async callable object": async_callable_object_kind,
}


def _paths(kind: Kind) -> tuple[str, ...]:
    if not kind.python:
        return ("wrapt",)
    return ("inplace", "wrapper", "wrapt") if kind.inplace else ("wrapper", "wrapt")


CASES = [
    pytest.param((name, path), id=f"{name}, {path}")
    for name, factory in KINDS.items()
    for path in _paths(factory())
]


def use_path(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """Make weaving take ``path``, whatever the environment the suite runs in."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(INPLACE_ENV, raising=False)
    if path == "wrapt":
        monkeypatch.setenv(DISABLE_ENV, "1")
    elif path == "wrapper":
        monkeypatch.setenv(INPLACE_ENV, "1")


@pytest.fixture(params=CASES)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kind]:
    name, path = request.param
    use_path(monkeypatch, path)
    made = KINDS[name]()
    made.path = path
    yield made


@pytest.fixture
def signals() -> tuple[Signal, Signal, Signal]:
    return Signal(), Signal(), Signal()


def own(owner: Any, attribute: str) -> Any:
    return vars(owner).get(attribute, MISSING)


def raw(obj: Any) -> Any:
    """What a lookup unwraps to, descriptors' binding removed."""
    return getattr(obj, "__func__", obj)


def test_woven_call_returns_what_the_original_returns(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    expected = kind.call(GOOD)
    weave((kind.owner, kind.attribute), Emit(*signals))
    with capture(*signals):
        assert kind.call(GOOD) == expected


def test_each_path_serves_the_targets_it_is_for(kind: Kind, signals: tuple[Signal, ...]) -> None:
    before = own(kind.owner, kind.attribute)
    weave((kind.owner, kind.attribute), Emit(*signals))
    attribute = own(kind.owner, kind.attribute)
    function = raw(getattr(kind.owner, kind.attribute))
    code = getattr(function, "__code__", None)
    if kind.path == "inplace":
        assert attribute is before  # nothing replaced
        assert code is raw(before).__code__  # and its own code while nobody listens
        with capture(*signals):
            # until its first call, a pass-through that builds the listening form
            assert function.__code__.co_filename.startswith("<eventweave first call ")
            kind.call(GOOD)
            # the listening form: one calling the original, or one running
            # the function's own body under its own filename
            listening = function.__code__
            assert listening is not code
            assert listening.co_filename.startswith("<eventweave woven ") or (
                listening.co_filename == code.co_filename and "_ew_snd" in listening.co_varnames
            )
        assert function.__code__ is code
    elif kind.path == "wrapper":
        assert attribute is not before
        assert code is not None and code.co_filename.startswith("<eventweave wrapper ")
        with capture(*signals):
            kind.call(GOOD)
            assert function.__code__.co_filename.startswith("<eventweave woven ")
    else:
        assert code is None or not code.co_filename.startswith("<eventweave")


def test_pre_then_post_fire_once_each_with_the_result(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    pre, post, error = signals
    expected = kind.call(GOOD)
    weave((kind.owner, kind.attribute), Emit(pre, post, error))
    with capture(pre, post, error) as events:
        kind.call(GOOD)
    assert [event.signal for event in events] == [pre, post]
    assert "result" not in events[0].kwargs
    assert events[1].kwargs["result"] == expected


def test_sender_follows_the_rule_for_the_kind(kind: Kind, signals: tuple[Signal, ...]) -> None:
    weave((kind.owner, kind.attribute), Emit(*signals))
    with capture(*signals) as events:
        kind.call(GOOD)
    assert [event.sender for event in events] == [kind.sender, kind.sender]


def test_first_parameter_is_sent_by_name_and_as_instance(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    weave((kind.owner, kind.attribute), Emit(*signals))
    with capture(*signals) as events:
        kind.call(GOOD)
    pre = events[0].kwargs
    assert pre[kind.parameter] == GOOD
    assert pre["instance"] == GOOD
    assert pre["method"] == kind.attribute
    assert pre["args"][0] == GOOD  # then the defaults of further positional parameters
    assert pre["kwargs"] == {}


def test_error_signal_carries_the_exception_which_is_reraised(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    pre, post, error = signals
    weave((kind.owner, kind.attribute), Emit(pre, post, error))
    with capture(pre, post, error) as events, pytest.raises(ValueError) as info:
        kind.call(BAD)
    assert [event.signal for event in events] == [pre, error]
    assert events[1].kwargs["exception"] is info.value


def test_unweave_restores_the_owners_attribute_exactly(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    before = own(kind.owner, kind.attribute)
    code = getattr(raw(before), "__code__", None)
    weaving = weave((kind.owner, kind.attribute), Emit(*signals))
    with capture(*signals):
        assert (own(kind.owner, kind.attribute) is before) == (kind.path == "inplace")
        weaving.unweave()
    assert own(kind.owner, kind.attribute) is before
    assert getattr(raw(before), "__code__", None) is code


def test_signature_is_the_targets(kind: Kind, signals: tuple[Signal, ...]) -> None:
    before = inspect.signature(getattr(kind.owner, kind.attribute))
    weave((kind.owner, kind.attribute), Emit(*signals))
    assert inspect.signature(getattr(kind.owner, kind.attribute)) == before


@pytest.mark.parametrize("name", ["__name__", "__qualname__", "__doc__", "__module__"])
def test_identity_attributes_are_the_targets(
    kind: Kind, signals: tuple[Signal, ...], name: str
) -> None:
    before = getattr(getattr(kind.owner, kind.attribute), name, None)
    weave((kind.owner, kind.attribute), Emit(*signals))
    assert getattr(getattr(kind.owner, kind.attribute), name, None) == before


def test_unwrapping_reaches_the_target(kind: Kind, signals: tuple[Signal, ...]) -> None:
    before = raw(inspect.unwrap(getattr(kind.owner, kind.attribute)))
    weave((kind.owner, kind.attribute), Emit(*signals))
    attribute = getattr(kind.owner, kind.attribute)
    # A wrapper leads to the target; a target woven in place is the target.
    assert hasattr(attribute, "__wrapped__") == (kind.path != "inplace")
    assert raw(inspect.unwrap(attribute)) is before


def test_generator_and_async_generator_ness_is_the_targets(
    kind: Kind, signals: tuple[Signal, ...]
) -> None:
    attribute = getattr(kind.owner, kind.attribute)
    before = (inspect.isgeneratorfunction(attribute), inspect.isasyncgenfunction(attribute))
    weave((kind.owner, kind.attribute), Emit(*signals))
    attribute = getattr(kind.owner, kind.attribute)
    assert (inspect.isgeneratorfunction(attribute), inspect.isasyncgenfunction(attribute)) == (
        before
    )


def test_coroutine_function_ness_is_the_targets(kind: Kind, signals: tuple[Signal, ...]) -> None:
    before = inspect.iscoroutinefunction(getattr(kind.owner, kind.attribute))
    weave((kind.owner, kind.attribute), Emit(*signals))
    assert inspect.iscoroutinefunction(getattr(kind.owner, kind.attribute)) == before


def test_no_receivers_no_signals_and_the_same_result(kind: Kind) -> None:
    pre = Signal()
    expected = kind.call(GOOD)
    weave((kind.owner, kind.attribute), Emit(pre))
    assert kind.call(GOOD) == expected
    assert not pre.receivers


# -- async: post after the awaited result -------------------------------------------


@pytest.fixture(params=["inplace", "wrapper", "wrapt"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    use_path(monkeypatch, request.param)
    return str(request.param)


class Steps:
    def __init__(self) -> None:
        self.log: list[str] = []

    def receiver(self, name: str) -> Callable[..., None]:
        def receive(signal: Any = None, sender: Any = None, **kwargs: Any) -> None:
            self.log.append(name)

        return receive


def make_job(steps: Steps) -> type:
    class Job:
        async def run(self, fail: bool = False) -> str:
            steps.log.append("started")
            await asyncio.sleep(0)
            steps.log.append("resumed")
            if fail:
                raise LookupError("job failed")
            return "done"

    return Job


@pytest.mark.usefixtures("path")
def test_async_post_fires_after_the_awaited_result() -> None:
    steps = Steps()
    job = make_job(steps)
    pre, post, error = Signal(), Signal(), Signal()
    for signal, name in ((pre, "pre"), (post, "post"), (error, "error")):
        signal.connect(steps.receiver(name), weak=False)
    weave((job, "run"), Emit(pre, post, error))

    async def main() -> str:
        coroutine = job().run()
        steps.log.append("created")
        result: str = await coroutine
        return result

    assert asyncio.run(main()) == "done"
    assert steps.log == ["created", "pre", "started", "resumed", "post"]


@pytest.mark.usefixtures("path")
def test_async_error_fires_after_the_awaited_exception() -> None:
    steps = Steps()
    job = make_job(steps)
    pre, post, error = Signal(), Signal(), Signal()
    for signal, name in ((pre, "pre"), (post, "post"), (error, "error")):
        signal.connect(steps.receiver(name), weak=False)
    weave((job, "run"), Emit(pre, post, error))
    with pytest.raises(LookupError, match="job failed"):
        asyncio.run(job().run(fail=True))
    assert steps.log == ["pre", "started", "resumed", "error"]


@pytest.mark.usefixtures("path")
def test_async_post_carries_the_awaited_value_not_a_coroutine() -> None:
    job = make_job(Steps())
    post = Signal()
    weave((job, "run"), Emit(post=post))
    with capture(post) as events:
        asyncio.run(job().run())
    assert events[0].kwargs["result"] == "done"


def test_async_callable_object_posts_the_awaited_value() -> None:
    owner = module(sqrt=AsyncSqrt())
    post = Signal()
    weave((owner, "sqrt"), Emit(post=post))
    with capture(post) as events:
        assert asyncio.run(owner.sqrt(GOOD)) == 2.0
    assert events[0].kwargs["result"] == 2.0


# -- what hooks receive, whichever wrapper serves the target ----------------------


class Seen(Advice):
    """Records what the wrapper hands to ``before``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def bind(self, site: Site) -> Hook:
        advice = self

        class Recording(Hook):
            def before(
                self,
                self_: Any,
                args: tuple[Any, ...],
                kwargs: dict[str, Any],
                named: dict[str, Any],
            ) -> Any:
                advice.calls.append((self_, args, kwargs, named))

        return Recording()


class Flexible:
    def call(
        self, first: int, second: int = 2, *rest: int, flag: bool = False, **extra: Any
    ) -> Any:
        return first, second, rest, flag, extra


@pytest.mark.usefixtures("path")
@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        pytest.param(
            (1,),
            {},
            ((1, 2), {"flag": False}, {"first": 1, "second": 2, "rest": (), "flag": False}),
            id="defaults",
        ),
        pytest.param(
            (1, 3, 4, 5),
            {"flag": True, "colour": "red"},
            (
                (1, 3, 4, 5),
                {"flag": True, "colour": "red"},
                {"first": 1, "second": 3, "rest": (4, 5), "flag": True, "colour": "red"},
            ),
            id="varargs and extra keywords",
        ),
        pytest.param(
            (),
            {"first": 1, "second": 3},
            ((1, 3), {"flag": False}, {"first": 1, "second": 3, "rest": (), "flag": False}),
            id="positional parameters by keyword",
        ),
    ],
)
def test_hooks_get_self_args_kwargs_and_named_alike_on_both_paths(
    args: tuple[Any, ...], kwargs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    advice = Seen()
    flexible = Flexible()
    result = flexible.call(*args, **kwargs)
    weave((Flexible, "call"), advice)
    assert flexible.call(*args, **kwargs) == result
    assert advice.calls == [(flexible, *expected)]
