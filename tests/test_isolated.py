"""Tests for `eventweave.testing._isolated`: undo what a block wove, marked and subscribed."""

from __future__ import annotations

import builtins
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventweave import Emit, Signal, mark, silent, weave, woven
from eventweave._advice import is_silent, triggered_action
from eventweave.plan import load
from eventweave.rest import AfterCreate, BeforeCreate
from eventweave.rest import registry as rest_registry
from eventweave.testing import capture, isolated


class Invoice:
    def pay(self, amount: int) -> int:
        return amount

    def refund(self, amount: int) -> int:
        return -amount


class Base:
    pass


class Child(Base):
    pass


THIS = sys.modules[__name__]

# Base before Child: unmarking Child while Base is silent would give it an own False.
MARKABLE = [
    (THIS, "Base"),
    (THIS, "Child"),
    (Invoice, "pay"),
    (Invoice, "refund"),
    (builtins, "len"),
]


@pytest.fixture(autouse=True)
def _clean_markers_and_subscriptions() -> Iterator[None]:
    yield
    rest_registry.clear()
    for target in MARKABLE:
        mark(target, silent=False, trigger_instead=False)


@pytest.fixture
def module_not_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"isolated_target_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "class Service:\n    def call(self):\n        return 'called'\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


# -- weavings --------------------------------------------------------------------------


def test_weaving_made_inside_is_unwoven_on_exit() -> None:
    original = Invoice.__dict__["pay"]
    signal = Signal()
    with isolated():
        weave((Invoice, "pay"), Emit(post=signal))
        with capture(signal) as inside:
            Invoice().pay(1)
    with capture(signal) as after:
        Invoice().pay(2)
    assert len(inside) == 1
    assert after == []
    assert Invoice.__dict__["pay"] is original
    assert not woven()


def test_weaving_made_before_the_block_stays() -> None:
    signal = Signal()
    plan = weave((Invoice, "pay"), Emit(post=signal))
    with isolated():
        weave((Invoice, "refund"), Emit(post=signal))
    assert woven() == [plan]
    with capture(signal) as events:
        Invoice().pay(1)
        Invoice().refund(1)
    assert [e.kwargs["method"] for e in events] == ["pay"]


def test_weaving_again_what_was_woven_before_keeps_it() -> None:
    signal = Signal()
    advice = Emit(post=signal)
    plan = weave((Invoice, "pay"), advice)
    with isolated():
        assert weave((Invoice, "pay"), advice) is plan
    assert woven() == [plan]


def test_pending_weaving_made_inside_never_applies_after(module_not_imported: str) -> None:
    signal = Signal()
    with isolated():
        weaving = weave(f"{module_not_imported}:Service.call", Emit(post=signal))
        assert weaving.pending
    assert not woven()
    module = __import__(module_not_imported)
    with capture(signal) as events:
        assert module.Service().call() == "called"
    assert events == []


def test_weavings_are_undone_when_the_block_raises() -> None:
    with pytest.raises(ValueError, match="test failed"), isolated():
        weave((Invoice, "pay"), Emit(post=Signal()))
        raise ValueError("test failed")
    assert not woven()


def test_nested_blocks_each_undo_their_own_weavings() -> None:
    signal = Signal()
    with isolated():
        outer = weave((Invoice, "pay"), Emit(post=signal))
        with isolated():
            weave((Invoice, "refund"), Emit(post=signal))
            assert len(woven()) == 2
        assert woven() == [outer]
    assert not woven()


# -- markers ---------------------------------------------------------------------------


def test_marker_set_inside_is_removed_on_exit() -> None:
    with isolated():
        mark((Invoice, "pay"), silent=True, trigger_instead="update")
        assert is_silent(Invoice.pay)
        assert triggered_action(Invoice.pay) == "update"
    assert not is_silent(Invoice.pay)
    assert triggered_action(Invoice.pay) is None
    assert "_silent" not in vars(Invoice.pay)


def test_marker_set_before_stays_even_if_removed_inside() -> None:
    mark((Invoice, "pay"), trigger_instead="update")
    with isolated():
        mark((Invoice, "pay"), trigger_instead="delete")
        mark((Invoice, "refund"), silent=True)
        mark((Invoice, "pay"), trigger_instead=False)
    assert triggered_action(Invoice.pay) == "update"
    assert not is_silent(Invoice.refund)


def test_subclass_of_a_silent_class_stays_silent_by_inheritance() -> None:
    silent(Base)
    with isolated():
        silent(Child)
        mark((THIS, "Child"), silent=False)  # under a silent Base: an own False
        assert not is_silent(Child)
    assert is_silent(Child)
    assert "_silent" not in vars(Child)


def test_marker_on_an_object_refusing_attributes_is_removed() -> None:
    with isolated():
        mark((builtins, "len"), silent=True)
        assert is_silent(len)
    assert not is_silent(len)


def test_marker_still_waiting_for_its_module_is_dropped(module_not_imported: str) -> None:
    with isolated():
        mark(f"{module_not_imported}:Service.call", silent=True)
    module = __import__(module_not_imported)
    assert not is_silent(module.Service.call)


def test_start_up_plans_marker_applied_on_import_inside_stays(
    module_not_imported: str, tmp_path: Path
) -> None:
    plan = tmp_path / "weave.toml"
    plan.write_text(f'[rest]\nsilent = ["{module_not_imported}:Service.call"]\n', encoding="utf-8")
    load(plan).apply()
    with isolated():
        module = __import__(module_not_imported)
        assert is_silent(module.Service.call)
    assert is_silent(module.Service.call)


def test_marker_waiting_from_before_and_from_inside_undoes_only_the_inner_one(
    module_not_imported: str,
) -> None:
    mark(f"{module_not_imported}:Service.call", silent=True)
    with isolated():
        mark(f"{module_not_imported}:Service.call", trigger_instead="update")
        with isolated():
            module = __import__(module_not_imported)
            assert triggered_action(module.Service.call) == "update"
        assert triggered_action(module.Service.call) == "update"
    assert is_silent(module.Service.call)
    assert triggered_action(module.Service.call) is None


def test_silenced_woven_method_emits_again_after_the_block() -> None:
    signal = Signal()
    weave((Invoice, "pay"), Emit(post=signal))
    with isolated():
        silent(Invoice.pay)
        with capture(signal) as inside:
            Invoice().pay(1)
    with capture(signal) as after:
        Invoice().pay(1)
    assert (len(inside), len(after)) == (0, 1)


# -- REST subscriptions ----------------------------------------------------------------


def on_create(event: Any) -> None:
    pass


def on_before(event: Any) -> None:
    pass


def test_subscription_made_inside_is_removed_and_earlier_ones_stay() -> None:
    rest_registry.subscribe(on_create, AfterCreate)
    before = rest_registry.receivers
    with isolated():
        rest_registry.subscribe(on_before, BeforeCreate)
        rest_registry.unsubscribe(on_create)
    assert rest_registry.receivers == before


def test_subscriptions_keep_their_order_model_and_field() -> None:
    rest_registry.subscribe(on_create, AfterCreate, model=Invoice, field="amount")
    rest_registry.subscribe(on_before, [BeforeCreate, AfterCreate])
    before = rest_registry.receivers
    with isolated():
        rest_registry.clear()
    assert rest_registry.receivers == before


def test_untouched_registry_is_left_as_it_is() -> None:
    rest_registry.subscribe(on_create, AfterCreate)
    before = rest_registry.receivers
    with isolated():
        pass
    assert rest_registry.receivers is before


def test_isolated_leaves_signal_receivers_alone() -> None:
    signal = Signal()

    def receiver(**kwargs: Any) -> None:
        pass

    with isolated():
        signal.connect(receiver)
    assert signal.receivers


def test_plan_applied_in_each_of_two_blocks_subscribes_in_each(tmp_path: Path) -> None:
    plan = tmp_path / "weave.toml"
    plan.write_text(
        f'[[connect]]\nreceiver = "{__name__}:on_create"\nevents = ["AfterCreate"]\n',
        encoding="utf-8",
    )
    for _ in range(2):
        with isolated():
            load(plan).apply()
            assert len(rest_registry.receivers) == 1
        assert rest_registry.receivers == ()
