"""Tests for `eventweave._weaving._handles`: weave, unweave, stacking, lazy import, threads."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from eventweave import Emit, Signal, WeaveError, Weaving, unweave_all, weave, woven
from eventweave._weaving import slots, when_imported
from eventweave._weaving._codegen import INPLACE_ENV
from eventweave.testing import capture
from tests.fixtures import PACKAGE, forget

BILLING = f"{PACKAGE}.lazy_billing"


class Invoice:
    def pay(self, amount: int) -> int:
        return amount

    @classmethod
    def open(cls, number: str) -> str:
        return number

    @staticmethod
    def rate(amount: int) -> float:
        return amount * 0.2


class CreditNote(Invoice):
    pass


registry = Invoice()  # a module-level object, woven alone by its target string


class Counter:
    """Counts how often the original runs, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs = 0

    def hit(self, x: int) -> int:
        with self.lock:
            self.runs += 1
        return x


@pytest.fixture
def billing() -> Iterator[str]:
    """The name of a fixture module, unimported before and after the test."""
    forget("lazy_billing")
    yield BILLING
    forget("lazy_billing")


@pytest.fixture
def pre() -> Signal:
    return Signal()


@pytest.fixture
def post() -> Signal:
    return Signal()


def woven_at(owner: Any, attribute: str) -> bool:
    """Whether ``(owner, attribute)`` is woven, in place or by a wrapper."""
    return any(o is owner and a == attribute for o, a, _ in slots())


@pytest.fixture
def wrapper_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INPLACE_ENV, "1")


@pytest.fixture
def inplace_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INPLACE_ENV, raising=False)


def listen(signal: Signal) -> list[Any]:
    got: list[Any] = []
    signal.connect(lambda sender, **kw: got.append((sender, kw)), weak=False)
    return got


# -- weaving and identity ------------------------------------------------------


def test_string_target_of_an_imported_module_is_woven_at_once(pre: Signal) -> None:
    weaving = weave(f"{__name__}:Invoice.pay", Emit(pre))
    assert weaving.applied
    assert not weaving.pending
    assert woven_at(Invoice, "pay")


def test_pair_target_is_woven_at_once_and_named_like_a_string_target(pre: Signal) -> None:
    weaving = weave((Invoice, "pay"), Emit(pre))
    assert weaving.applied
    assert weaving.target == f"{__name__}:Invoice.pay"


def test_weaving_has_its_advice(pre: Signal) -> None:
    advice = Emit(pre)
    assert weave((Invoice, "pay"), advice).advice is advice


def test_weaving_again_with_an_equal_advice_returns_the_same_handle(pre: Signal) -> None:
    first = weave((Invoice, "pay"), Emit(pre))
    woven_once = vars(Invoice)["pay"]
    second = weave((Invoice, "pay"), Emit(pre))
    assert second is first
    assert vars(Invoice)["pay"] is woven_once
    assert woven() == [first]


def test_string_and_pair_naming_the_same_attribute_are_one_weaving(pre: Signal) -> None:
    by_pair = weave((Invoice, "pay"), Emit(pre))
    assert weave(f"{__name__}:Invoice.pay", Emit(pre)) is by_pair


def test_idempotent_weave_emits_once(pre: Signal) -> None:
    weave((Invoice, "pay"), Emit(pre))
    weave((Invoice, "pay"), Emit(pre))
    got = listen(pre)
    Invoice().pay(1)
    assert len(got) == 1


def test_different_advices_stack_and_fire_in_weave_order(pre: Signal, post: Signal) -> None:
    weave((Invoice, "pay"), Emit(pre))
    weave((Invoice, "pay"), Emit(post))
    with capture(pre, post) as events:
        Invoice().pay(1)
    assert [event.signal for event in events] == [pre, post]


def test_stacked_weavings_all_report_an_error_in_weave_order(pre: Signal, post: Signal) -> None:
    class Failing:
        def run(self) -> None:
            raise LookupError("failed")

    weave((Failing, "run"), Emit(error=pre))
    weave((Failing, "run"), Emit(error=post))
    with capture(pre, post) as events, pytest.raises(LookupError) as info:
        Failing().run()
    assert [event.signal for event in events] == [pre, post]
    assert all(event.kwargs["exception"] is info.value for event in events)


def test_failing_post_receiver_of_one_weaving_leaves_the_others_post_intact(
    pre: Signal, post: Signal
) -> None:
    error = Signal()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    weave((Invoice, "pay"), Emit(post=pre, error=error))
    weave((Invoice, "pay"), Emit(post=post, error=error))
    with (
        pre.connected_to(broken),
        capture(post, error) as events,
        pytest.raises(RuntimeError, match="receiver bug"),
    ):
        Invoice().pay(1)
    assert [(event.signal, event.kwargs["result"]) for event in events] == [(post, 1)]


def test_weaving_repr_names_target_advice_and_state(billing: str, pre: Signal) -> None:
    applied = weave((Invoice, "pay"), Emit(pre))
    pending = weave(f"{billing}:Invoice.pay", Emit(pre))
    assert repr(applied).startswith(f"<Weaving '{__name__}:Invoice.pay' Emit(pre=")
    assert repr(applied).endswith("(applied)>")
    assert repr(pending).endswith("(pending)>")


def test_unweave_restores_the_exact_original_function(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    weave((Invoice, "pay"), Emit(pre)).unweave()
    assert vars(Invoice)["pay"] is original


def test_unweave_restores_the_classmethod_descriptor(pre: Signal) -> None:
    original = vars(Invoice)["open"]
    weave((Invoice, "open"), Emit(pre)).unweave()
    assert vars(Invoice)["open"] is original


def test_unweave_restores_the_staticmethod_descriptor(pre: Signal) -> None:
    original = vars(Invoice)["rate"]
    weave((Invoice, "rate"), Emit(pre)).unweave()
    assert vars(Invoice)["rate"] is original


def test_weaving_keeps_classmethod_and_staticmethod_kinds(pre: Signal) -> None:
    weave((Invoice, "open"), Emit(pre))
    weave((Invoice, "rate"), Emit(pre))
    assert isinstance(vars(Invoice)["open"], classmethod)
    assert isinstance(vars(Invoice)["rate"], staticmethod)
    assert Invoice.open("A1") == "A1"
    assert Invoice().rate(10) == 2.0


def test_weaving_an_inherited_method_puts_the_wrapper_on_the_subclass_only(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    weave((CreditNote, "pay"), Emit(pre))
    assert "pay" in vars(CreditNote)
    assert vars(Invoice)["pay"] is original
    got = listen(pre)
    Invoice().pay(1)
    CreditNote().pay(2)
    assert [kw["amount"] for _, kw in got] == [2]


def test_unweaving_an_inherited_method_leaves_no_attribute_on_the_subclass(pre: Signal) -> None:
    weave((CreditNote, "pay"), Emit(pre)).unweave()
    assert "pay" not in vars(CreditNote)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["first then second", "second then first"])
def test_stacked_weavings_removed_in_any_order_restore_the_original(
    order: tuple[int, int], pre: Signal, post: Signal
) -> None:
    original = vars(Invoice)["pay"]
    code = original.__code__
    weavings = [weave((Invoice, "pay"), Emit(pre)), weave((Invoice, "pay"), Emit(post))]
    weavings[order[0]].unweave()
    assert woven_at(Invoice, "pay")
    with capture(pre, post) as events:
        Invoice().pay(1)
    assert [event.signal for event in events] == [(pre, post)[1 - order[0]]]
    weavings[order[1]].unweave()
    assert vars(Invoice)["pay"] is original
    assert original.__code__ is code


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["first then second", "second then first"])
def test_removing_one_stacked_weaving_keeps_the_other_firing(
    order: tuple[int, int], pre: Signal, post: Signal
) -> None:
    signals = [pre, post]
    weavings = [weave((Invoice, "pay"), Emit(pre)), weave((Invoice, "pay"), Emit(post))]
    weavings[order[0]].unweave()
    with capture(pre, post) as events:
        Invoice().pay(1)
    assert [event.signal for event in events] == [signals[order[1]]]


@pytest.mark.parametrize("base_first", [True, False], ids=["base first", "subclass first"])
def test_weavings_on_base_and_subclass_both_fire_for_the_subclass(
    base_first: bool, pre: Signal, post: Signal
) -> None:
    if base_first:
        weave((Invoice, "pay"), Emit(pre))
        weave((CreditNote, "pay"), Emit(post))
    else:
        weave((CreditNote, "pay"), Emit(post))
        weave((Invoice, "pay"), Emit(pre))
    with capture(pre, post) as events:
        CreditNote().pay(1)
    assert sorted(id(event.signal) for event in events) == sorted([id(pre), id(post)])
    with capture(pre, post) as events:
        Invoice().pay(1)
    assert [event.signal for event in events] == [pre]


@pytest.mark.parametrize("base_out_first", [True, False], ids=["base out first", "subclass out"])
def test_unweaving_base_and_subclass_in_any_order_restores_both(
    base_out_first: bool, pre: Signal, post: Signal
) -> None:
    original = vars(Invoice)["pay"]
    base = weave((Invoice, "pay"), Emit(pre))
    sub = weave((CreditNote, "pay"), Emit(post))
    for weaving in (base, sub) if base_out_first else (sub, base):
        weaving.unweave()
    assert vars(Invoice)["pay"] is original
    assert "pay" not in vars(CreditNote)


def test_unweaving_the_base_keeps_the_subclass_weaving_firing(pre: Signal, post: Signal) -> None:
    base = weave((Invoice, "pay"), Emit(pre))
    weave((CreditNote, "pay"), Emit(post))
    base.unweave()
    with capture(pre, post) as events:
        assert CreditNote().pay(5) == 5
    assert [event.signal for event in events] == [post]


def test_three_generations_fire_their_own_and_inherited_weavings(pre: Signal, post: Signal) -> None:
    error = Signal()

    class Final(CreditNote):
        pass

    original = vars(Invoice)["pay"]
    base = weave((Invoice, "pay"), Emit(pre))
    middle = weave((CreditNote, "pay"), Emit(post))
    weave((Final, "pay"), Emit(error))
    with capture(pre, post, error) as events:
        Final().pay(1)
    assert [event.signal for event in events] == [pre, post, error]
    middle.unweave()
    assert "pay" not in vars(CreditNote)
    with capture(pre, post, error) as events:
        Final().pay(1)
        CreditNote().pay(2)
    assert [event.signal for event in events] == [pre, error, pre]
    base.unweave()
    assert vars(Invoice)["pay"] is original
    with capture(pre, post, error) as events:
        assert Final().pay(3) == 3
    assert [event.signal for event in events] == [error]


def test_woven_omits_the_internal_flow_marks_within_needs(pre: Signal) -> None:
    weaving = weave((Invoice, "rate"), Emit(pre, within=f"{__name__}:Invoice.pay"))
    assert woven() == [weaving]
    assert any(owner is Invoice and name == "pay" for owner, name, _ in slots())


def test_unweave_twice_does_nothing(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    weaving = weave((Invoice, "pay"), Emit(pre))
    weaving.unweave()
    weaving.unweave()
    assert vars(Invoice)["pay"] is original


def test_weaving_is_a_context_manager_that_unweaves_on_exit(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    with weave((Invoice, "pay"), Emit(pre)) as weaving:
        assert isinstance(weaving, Weaving)
        assert woven_at(Invoice, "pay")
    assert vars(Invoice)["pay"] is original
    assert not woven()
    assert not woven_at(Invoice, "pay")


def test_weaving_again_after_unweave_makes_a_new_handle(pre: Signal) -> None:
    first = weave((Invoice, "pay"), Emit(pre))
    first.unweave()
    second = weave((Invoice, "pay"), Emit(pre))
    assert second is not first
    assert second.applied


def test_woven_lists_active_weavings_in_weave_order(pre: Signal, post: Signal) -> None:
    first = weave((Invoice, "pay"), Emit(pre))
    second = weave((Invoice, "open"), Emit(post))
    assert woven() == [first, second]
    first.unweave()
    assert woven() == [second]


def test_unweave_all_restores_every_original(pre: Signal, post: Signal) -> None:
    originals = {name: vars(Invoice)[name] for name in ("pay", "open", "rate")}
    for name in originals:
        weave((Invoice, name), Emit(pre))
    weave((Invoice, "pay"), Emit(post))
    weave((CreditNote, "open"), Emit(post))
    unweave_all()
    assert not woven()
    assert {name: vars(Invoice)[name] for name in originals} == originals
    assert "open" not in vars(CreditNote)
    assert not [owner for owner, _, _ in slots() if owner in (Invoice, CreditNote)]


@pytest.mark.usefixtures("wrapper_path")
def test_attribute_replaced_after_weaving_is_left_alone_on_unweave(
    pre: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    class Local:
        def pay(self) -> str:
            return "original"

    def replacement(self: Any) -> str:
        return "replacement"

    weaving = weave((Local, "pay"), Emit(pre))
    Local.pay = replacement  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="eventweave"):
        weaving.unweave()
    assert vars(Local)["pay"] is replacement
    assert "replaced after being woven" in caplog.text


@pytest.mark.usefixtures("inplace_path")
def test_function_woven_in_place_gets_its_code_back_though_its_attribute_was_replaced(
    pre: Signal,
) -> None:
    class Local:
        def pay(self) -> str:
            return "original"

    def replacement(self: Any) -> str:
        return "replacement"

    original = vars(Local)["pay"]
    code = original.__code__
    weaving = weave((Local, "pay"), Emit(pre))
    Local.pay = replacement  # type: ignore[method-assign]
    with capture(pre) as events:
        assert original(Local()) == "original"  # the function itself still emits
        weaving.unweave()
    assert len(events) == 1
    assert vars(Local)["pay"] is replacement
    assert original.__code__ is code


@pytest.mark.usefixtures("wrapper_path")
def test_attribute_replaced_after_weaving_is_woven_again_with_a_warning(
    pre: Signal, post: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    class Local:
        def pay(self) -> str:
            return "original"

    def replacement(self: Any) -> str:
        return "replacement"

    weave((Local, "pay"), Emit(pre))
    Local.pay = replacement  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="eventweave"):
        weave((Local, "pay"), Emit(post))
    assert "was replaced by someone else after it was woven" in caplog.text


# -- lazy weaving --------------------------------------------------------------


def test_weaving_a_module_not_imported_yet_is_pending(billing: str, pre: Signal) -> None:
    weaving = weave(f"{billing}:Invoice.pay", Emit(pre))
    assert billing not in sys.modules
    assert weaving.pending
    assert not weaving.applied
    assert weaving.error is None
    assert woven() == [weaving]


def test_pending_weaving_applies_when_its_module_is_imported(billing: str, pre: Signal) -> None:
    weaving = weave(f"{billing}:Invoice.pay", Emit(pre))
    module = importlib.import_module(billing)
    assert weaving.applied
    assert not weaving.pending
    with capture(pre) as events:
        assert module.Invoice().pay(3) == "3 EUR"
    assert [event.sender for event in events] == [module.Invoice]


def test_equal_pending_weavings_are_one_handle(billing: str, pre: Signal) -> None:
    first = weave(f"{billing}:refund", Emit(pre))
    assert weave(f"{billing}:refund", Emit(pre)) is first
    importlib.import_module(billing)
    assert weave(f"{billing}:refund", Emit(pre)) is first
    assert woven() == [first]


def test_pending_weavings_on_one_module_all_apply_on_import(
    billing: str, pre: Signal, post: Signal
) -> None:
    weavings = [
        weave(f"{billing}:Invoice.pay", Emit(pre)),
        weave(f"{billing}:Invoice.open", Emit(pre)),
        weave(f"{billing}:refund", Emit(post)),
    ]
    importlib.import_module(billing)
    assert [weaving.applied for weaving in weavings] == [True, True, True]


def test_unweaving_a_pending_weaving_keeps_it_from_applying(billing: str, pre: Signal) -> None:
    weaving = weave(f"{billing}:Invoice.pay", Emit(pre))
    weaving.unweave()
    assert woven() == []
    module = importlib.import_module(billing)
    assert not weaving.applied
    assert not hasattr(vars(module.Invoice)["pay"], "__wrapped__")


def test_target_missing_at_import_is_logged_and_the_import_succeeds(
    billing: str, pre: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    weaving = weave(f"{billing}:Invoice.pya", Emit(pre))
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        module = importlib.import_module(billing)
    assert module.Invoice().pay(1) == "1 EUR"
    assert isinstance(weaving.error, WeaveError)
    assert "did you mean 'pay'" in str(weaving.error)
    assert not weaving.applied
    assert not weaving.pending
    assert f"cannot weave '{billing}:Invoice.pya'" in caplog.text
    assert woven() == [weaving]


def test_failed_lazy_weaving_does_not_stop_the_others(
    billing: str, pre: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    broken = weave(f"{billing}:Invoce.pay", Emit(pre))
    fine = weave(f"{billing}:Invoice.pay", Emit(pre))
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        importlib.import_module(billing)
    assert broken.error is not None
    assert fine.applied


def test_weaving_a_module_from_inside_its_own_import_applies_once_the_import_completes() -> None:
    forget("lazy_circular", "lazy_circular_instrument")
    try:
        module = importlib.import_module(f"{PACKAGE}.lazy_circular")
        weaving = module.lazy_circular_instrument.weaving
        assert weaving.applied and weaving.error is None
        with capture(module.lazy_circular_instrument.saved) as events:
            assert module.User().save() == "saved"
        assert [e.kwargs["result"] for e in events] == ["saved"]
        assert type(sys.modules[PACKAGE]) is type(sys)  # the package's class is put back
    finally:
        forget("lazy_circular", "lazy_circular_instrument")


def test_within_target_in_a_module_mid_import_is_applied(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step lives in a module the views module imports: the step is woven
    # (and asks for the mark on View.handle) while views is still running.
    package = tmp_path / "midimport"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def step():\n    return 1\n")
    (package / "views.py").write_text(
        "from midimport.helpers import step\n\n"
        "class View:\n    def handle(self):\n        return step()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pre = Signal()
    try:
        weave("midimport.helpers:step", Emit(pre, within="midimport.views:View.handle"))
        views = importlib.import_module("midimport.views")
        with capture(pre) as events:
            assert views.View().handle() == 1
            assert views.step() == 1  # outside View.handle: nothing
        assert len(events) == 1
    finally:
        unweave_all()
        for name in ("midimport.views", "midimport.helpers", "midimport"):
            sys.modules.pop(name, None)


def test_top_level_module_woven_mid_import_is_applied_when_its_import_ends(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "toplevel_selfweave.py").write_text(
        "import eventweave\n"
        "saved = eventweave.Signal()\n"
        "weaving = eventweave.weave('toplevel_selfweave:save', eventweave.Emit(post=saved))\n"
        "def save():\n    return 'saved'\n"
    )
    (tmp_path / "toplevel_next.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("toplevel_selfweave")
        assert module.weaving.applied  # no other import needed
        with capture(module.saved) as events:
            module.save()
        assert len(events) == 1
    finally:
        unweave_all()
        sys.modules.pop("toplevel_selfweave", None)
        sys.modules.pop("toplevel_next", None)


# -- one object ----------------------------------------------------------------


def test_weaving_one_object_leaves_its_class_and_other_objects_alone(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    mine, other = Invoice(), Invoice()
    weave((mine, "pay"), Emit(pre))
    got = listen(pre)
    mine.pay(1)
    other.pay(2)
    assert [kw["amount"] for _, kw in got] == [1]
    assert vars(Invoice)["pay"] is original
    assert "pay" not in vars(other)


def test_unweaving_one_object_leaves_no_attribute_on_it(pre: Signal) -> None:
    mine = Invoice()
    weave((mine, "pay"), Emit(pre)).unweave()
    assert vars(mine) == {}


def test_weaving_the_class_after_one_object_fires_both_for_that_object(
    pre: Signal, post: Signal
) -> None:
    mine = Invoice()
    weave((mine, "pay"), Emit(post))
    weave((Invoice, "pay"), Emit(pre))
    with capture(pre, post) as events:
        mine.pay(1)
    assert sorted(id(event.signal) for event in events) == sorted([id(pre), id(post)])


def test_woven_names_the_object_in_the_target(pre: Signal) -> None:
    mine = Invoice()
    weaving = weave((mine, "pay"), Emit(pre))
    assert weaving.target == f"{__name__}:Invoice.pay of Invoice at {id(mine):#x}"


def test_module_level_object_is_woven_alone_by_its_target_string(pre: Signal) -> None:
    original = vars(Invoice)["pay"]
    weaving = weave(f"{__name__}:registry.pay", Emit(pre))
    assert weaving.target == f"{__name__}:registry.pay"
    got = listen(pre)
    registry.pay(1)
    Invoice().pay(2)
    assert [kw["amount"] for _, kw in got] == [1]
    assert vars(Invoice)["pay"] is original
    weaving.unweave()
    assert "pay" not in vars(registry)


def test_when_imported_calls_back_at_once_for_an_imported_module() -> None:
    seen: list[str] = []
    when_imported(__name__, lambda module: seen.append(module.__name__))
    assert seen == [__name__]


def test_when_imported_calls_back_once_the_module_is_imported(billing: str) -> None:
    seen: list[str] = []
    when_imported(billing, lambda module: seen.append(module.__name__))
    assert seen == []
    importlib.import_module(billing)
    assert seen == [billing]


# -- threads -------------------------------------------------------------------


def test_calls_run_the_original_exactly_once_while_weaving_and_unweaving(pre: Signal) -> None:
    counter = Counter()
    post = Signal()
    # Receivers keep the gates open, so both the fast and the full path run.
    pre.connect(lambda **kw: None, weak=False)
    calls = [0] * 4
    stop = threading.Event()

    def call(index: int) -> None:
        while not stop.is_set():
            counter.hit(1)
            calls[index] += 1

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 0.5
    cycles = 0
    while time.monotonic() < deadline:
        first = weave((counter, "hit"), Emit(pre))
        second = weave((counter, "hit"), Emit(post))
        first.unweave()
        second.unweave()
        cycles += 1
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads)
    assert cycles >= 3
    assert sum(calls) > 0
    assert counter.runs == sum(calls)
    assert vars(counter) == {"lock": counter.lock, "runs": counter.runs}


def test_calls_to_a_class_method_run_once_while_another_thread_weaves() -> None:
    runs = []
    lock = threading.Lock()

    class Service:
        def work(self, x: int) -> int:
            with lock:
                runs.append(x)
            return x

    signal = Signal()
    signal.connect(lambda **kw: None, weak=False)
    stop = threading.Event()
    calls = [0] * 4

    def call(index: int) -> None:
        service = Service()
        while not stop.is_set():
            service.work(index)
            calls[index] += 1

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        with weave((Service, "work"), Emit(signal)):
            pass
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads)
    assert len(runs) == sum(calls)
    assert "__wrapped__" not in vars(vars(Service)["work"])


def test_a_wrapper_kept_elsewhere_emits_nothing_once_unwoven(pre: Signal) -> None:
    weaving = weave((Invoice, "pay"), Emit(pre))
    woven_pay = Invoice.pay  # e.g. `from billing import pay` while woven
    with capture(pre) as events:
        woven_pay(Invoice(), 1)
        weaving.unweave()
        woven_pay(Invoice(), 2)
    assert [e.kwargs["amount"] for e in events] == [1]


def test_a_wrapper_kept_elsewhere_with_a_foreign_signal_emits_nothing_once_unwoven() -> None:
    import django.dispatch

    signal = django.dispatch.Signal()
    got: list[Any] = []

    def receive(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs["amount"])

    signal.connect(receive, weak=False)
    weaving = weave((Invoice, "pay"), Emit(signal))
    kept = Invoice.pay
    kept(Invoice(), 1)
    weaving.unweave()
    kept(Invoice(), 2)
    signal.disconnect(receive)
    assert got == [1]


# -- nothing left behind -----------------------------------------------------------


def test_unweave_all_leaves_no_index_watcher_or_generated_source_behind() -> None:
    import linecache

    from eventweave._weaving import _codegen, _handles

    def make() -> type:
        class Local:
            def pay(self, amount: int) -> int:
                return amount

        return Local

    unweave_all()
    # @emits-decorated functions elsewhere in the suite keep theirs: compare
    idle_before = set(_codegen._idle_code)
    sources_before = {name for name in linecache.cache if name.startswith("<eventweave")}
    pre = Signal()
    pre.connect(lambda **kw: None, weak=False)
    classes = [make() for _ in range(20)]
    for cls in classes:
        weave((cls, "pay"), Emit(pre))  # in place, listening: forms compiled and registered
        weave((cls(), "pay"), Emit(pre))  # one object: a wrapper
        weave(f"{__name__}:Invoice.open", Emit(pre, within=f"{__name__}:Invoice.pay"))
    for cls in classes:
        assert cls().pay(1) == 1
    unweave_all()
    assert not _handles._slots
    assert not _handles._heirs
    assert not _handles._by_function
    assert not _handles._by_installed
    assert not _handles._weavings
    assert not _handles._by_target
    assert not _handles._by_location
    assert set(_codegen._idle_code) == idle_before
    sources = {name for name in linecache.cache if name.startswith("<eventweave")}
    assert sources == sources_before
    assert set(_codegen._registered) == sources_before
    assert not pre._watchers


def test_advice_asking_to_wait_for_a_module_is_applied_when_that_import_ends(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventweave._weaving import Later

    (tmp_path / "awaited_signals.py").write_text("import eventweave\nready = eventweave.Signal()\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Awaiting(Emit):
        def bind(self, site: Any) -> Any:
            module = sys.modules.get("awaited_signals")
            if module is None:
                raise Later("awaited_signals")
            self.post = module.ready
            return super().bind(site)

    try:
        weaving = weave((Invoice, "pay"), Awaiting())
        assert weaving.pending and not weaving.applied
        assert Invoice().pay(1) == 1
        module = importlib.import_module("awaited_signals")
        assert weaving.applied
        with capture(module.ready) as events:
            Invoice().pay(2)
        assert [event.kwargs["amount"] for event in events] == [2]
    finally:
        unweave_all()
        sys.modules.pop("awaited_signals", None)
