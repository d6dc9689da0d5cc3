"""Tests for `eventweave._advice`: the Emit advice, emits, markers and muting."""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import logging
import os
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import blinker
import django.dispatch
import pytest

from eventweave import (
    MASK,
    SECRET_NAMES,
    Call,
    Emit,
    Signal,
    WeaveError,
    _advice,
    emits,
    mark,
    muted,
    silent,
    trigger_instead,
    unweave_all,
    weave,
)
from eventweave._advice import RESERVED_NAMES, is_muted, is_silent, triggered_action
from eventweave._weaving import Site, slots
from eventweave.testing import CapturedEvent, capture
from tests.fixtures import PACKAGE, forget

pre = Signal()
post = Signal()
error = Signal()


def events_of(*signals: Any) -> Any:
    return capture(*(signals or (pre, post, error)))


def kinds(events: list[CapturedEvent]) -> list[str]:
    names = {id(pre): "pre", id(post): "post", id(error): "error"}
    return [names.get(id(event.signal), "other") for event in events]


class Service:
    def create(self, name: str, size: int = 1) -> str:
        return f"{name}:{size}"

    def ping(self) -> str:
        return "pong"

    def fail(self, name: str) -> None:
        raise LookupError(name)

    @classmethod
    def build(cls, name: str) -> str:
        return name

    @staticmethod
    def check(name: str) -> bool:
        return bool(name)

    def login(self, user: str, password: str, *, api_key: str = "", **extra: Any) -> str:
        return user


class SubService(Service):
    pass


def lookup(name: str, token: str = "t0") -> str:
    return name


def nothing() -> None:
    return None


this = sys.modules[__name__]


# -- what is sent ----------------------------------------------------------------


def test_pre_carries_instance_method_args_kwargs_and_parameters() -> None:
    weave((Service, "create"), Emit(pre))
    with events_of() as events:
        Service().create("a", size=3)
    assert events[0].kwargs == {
        "instance": "a",
        "method": "create",
        "args": ("a", 3),
        "kwargs": {},
        "name": "a",
        "size": 3,
    }


def test_defaults_are_sent_as_bound() -> None:
    weave((Service, "create"), Emit(pre))
    with events_of() as events:
        Service().create("a")
    assert events[0].kwargs["size"] == 1


def test_post_adds_the_result() -> None:
    weave((Service, "create"), Emit(pre, post))
    with events_of() as events:
        result = Service().create("a")
    assert kinds(events) == ["pre", "post"]
    assert events[1].kwargs["result"] == result
    assert {k: v for k, v in events[1].kwargs.items() if k != "result"} == events[0].kwargs


def test_keyword_only_and_extra_keywords_are_sent_in_kwargs_and_by_name() -> None:
    weave((Service, "login"), Emit(pre, redact=()))
    with events_of() as events:
        Service().login("bob", "pw", api_key="k", colour="red")
    sent = events[0].kwargs
    assert sent["args"] == ("bob", "pw")
    assert sent["kwargs"] == {"api_key": "k", "colour": "red"}
    assert sent["colour"] == "red"


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES - {"self"}))
def test_parameter_with_a_reserved_name_is_not_sent_by_name(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def target(self, value, {name}='param'):\n    return value\n", namespace)
    owner = type("Reserved", (), {"target": namespace["target"]})
    weave((owner, "target"), Emit(pre, post, error))
    with events_of() as events:
        owner().target(1, "param")
    sent = events[1].kwargs
    assert sent["value"] == 1
    assert sent["method"] == "target"
    assert sent["instance"] == 1
    assert sent["result"] == 1
    assert sent["args"] == (1, "param")
    assert "param" not in [value for key, value in sent.items() if key != "args"]
    assert events[1].sender is owner


def test_function_with_a_parameter_named_self_is_woven_and_self_is_not_sent_by_name() -> None:
    def target(self: Any, value: int) -> int:  # a module function whose first parameter is self
        return value

    holder = types.ModuleType("holder")
    holder.target = target  # type: ignore[attr-defined]
    weave((holder, "target"), Emit(pre, post, error))
    with events_of() as events:
        assert holder.target("me", 2) == 2  # type: ignore[attr-defined]
        assert holder.target(self="me", value=3) == 3  # type: ignore[attr-defined]
    assert [event.kwargs["value"] for event in events] == [2, 2, 3, 3]
    assert all("self" not in event.kwargs for event in events)
    assert events[0].kwargs["args"] == ("me", 2)


def test_staticmethod_with_a_parameter_named_self_is_woven() -> None:
    class Odd:
        @staticmethod
        def run(self: Any, **extra: Any) -> Any:
            return self, extra

    weave((Odd, "run"), Emit(pre, post))
    with events_of() as events:
        assert Odd.run(1, colour="red") == (1, {"colour": "red"})
    assert "self" not in events[0].kwargs
    assert events[0].kwargs["colour"] == "red"


@pytest.mark.parametrize("name", ["sender", "signal", "instance", "result", "self"])
def test_reserved_keys_in_extra_keywords_do_not_clash(name: str) -> None:
    def target(value: int, **extra: Any) -> int:
        return value

    holder = type(sys)("holder")
    holder.target = target  # type: ignore[attr-defined]
    weave((holder, "target"), Emit(pre, post))
    with events_of() as events:
        holder.target(1, **{name: "extra"})
    assert events[0].sender is holder
    assert events[1].kwargs["result"] == 1
    assert events[1].kwargs["kwargs"] == {name: "extra"}


# -- sender rules ---------------------------------------------------------------


def test_sender_of_a_method_is_the_runtime_class() -> None:
    weave((Service, "create"), Emit(pre))
    with events_of() as events:
        SubService().create("a")
    assert events[0].sender is SubService
    assert issubclass(events[0].sender, Service)


def test_sender_of_a_classmethod_is_cls() -> None:
    weave((Service, "build"), Emit(pre))
    with events_of() as events:
        SubService.build("a")
        SubService().build("b")
    assert [event.sender for event in events] == [SubService, SubService]


def test_sender_of_a_staticmethod_is_its_class() -> None:
    weave((Service, "check"), Emit(pre))
    with events_of() as events:
        SubService.check("a")
    assert events[0].sender is Service


def test_sender_of_a_module_function_is_the_module() -> None:
    weave((this, "lookup"), Emit(pre))
    with events_of() as events:
        lookup("a")
    assert events[0].sender is this


def test_sender_can_be_fixed() -> None:
    weave((Service, "create"), Emit(pre, post, sender="billing"))
    with events_of() as events:
        Service().create("a")
    assert [event.sender for event in events] == ["billing", "billing"]


def test_sender_can_be_a_class_given_as_is() -> None:
    weave((Service, "create"), Emit(pre, sender=SubService))
    with events_of() as events:
        Service().create("a")
    assert events[0].sender is SubService


def test_sender_callable_gets_the_call() -> None:
    calls: list[Call] = []

    def sender(call: Call) -> str:
        calls.append(call)
        return f"sent by {call.arguments['name']}"

    service = Service()
    weave((Service, "create"), Emit(pre, sender=sender))
    with events_of() as events:
        service.create("a", 2)
    assert events[0].sender == "sent by a"
    (call,) = calls
    assert call.self is service
    assert call.args == ("a", 2)
    assert call.kwargs == {}
    assert call.arguments == {"name": "a", "size": 2}
    assert call.flow is None


# -- instance rules -------------------------------------------------------------


def test_instance_defaults_to_the_first_parameter_after_self() -> None:
    weave((Service, "create"), Emit(pre))
    with events_of() as events:
        Service().create("first", 2)
    assert events[0].kwargs["instance"] == "first"


def test_instance_is_none_without_parameters() -> None:
    weave((Service, "ping"), Emit(pre))
    weave((this, "nothing"), Emit(pre))
    with events_of() as events:
        Service().ping()
        nothing()
    assert [event.kwargs["instance"] for event in events] == [None, None]


def test_instance_can_name_a_parameter() -> None:
    weave((Service, "create"), Emit(pre, instance="size"))
    with events_of() as events:
        Service().create("a", 7)
    assert events[0].kwargs["instance"] == 7


def test_instance_can_be_self() -> None:
    service = Service()
    weave((Service, "create"), Emit(pre, instance="self"))
    with events_of() as events:
        service.create("a")
    assert events[0].kwargs["instance"] is service


def test_instance_result_is_none_in_pre_and_the_return_value_in_post() -> None:
    weave((Service, "create"), Emit(pre, post, instance="result"))
    with events_of() as events:
        Service().create("a", 2)
    assert [event.kwargs["instance"] for event in events] == [None, "a:2"]


def test_instance_callable_sees_the_result_in_post() -> None:
    def instance(call: Call) -> Any:
        return ("after", call.result) if call.result is not None else ("before", call.self)

    service = Service()
    weave((Service, "create"), Emit(pre, post, instance=instance))
    with events_of() as events:
        service.create("a")
    assert [event.kwargs["instance"] for event in events] == [
        ("before", service),
        ("after", "a:1"),
    ]


def test_instance_callable_sees_the_exception_on_error() -> None:
    weave((Service, "fail"), Emit(pre, post, error, instance=lambda call: call.exception))
    with events_of() as events, pytest.raises(LookupError) as info:
        Service().fail("x")
    assert [event.kwargs["instance"] for event in events] == [None, info.value]


def test_instance_naming_no_parameter_is_a_weave_error() -> None:
    with pytest.raises(WeaveError, match="instance='nme' is not a parameter of it; it takes"):
        weave((Service, "create"), Emit(pre, instance="nme"))


def test_instance_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="instance= takes a parameter name"):
        Emit(pre, instance=3)  # type: ignore[arg-type]


class Flexible:
    """Takes ``**extra``, which sends its calls through the generic path."""

    def create(self, name: str, size: int = 1, **extra: Any) -> str:
        return f"{name}:{size}"


@pytest.mark.parametrize("owner", [Service, Flexible], ids=["inline path", "generic path"])
@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (None, ["a", "a"]),
        ("size", [3, 3]),
        ("result", [None, "a:3"]),
        ("self", ["self", "self"]),
    ],
)
def test_instance_rules_hold_on_every_path(owner: type, instance: Any, expected: list[Any]) -> None:
    obj = owner()
    weave((owner, "create"), Emit(pre, post, instance=instance))
    with events_of() as events:
        obj.create("a", 3)
    sent = [event.kwargs["instance"] for event in events]
    assert sent == [obj if value == "self" else value for value in expected]


@pytest.mark.parametrize("owner", [Service, Flexible], ids=["inline path", "generic path"])
def test_fixed_sender_holds_on_every_path(owner: type) -> None:
    weave((owner, "create"), Emit(pre, post, sender="fixed"))
    with events_of() as events:
        owner().create("a")
    assert [event.sender for event in events] == ["fixed", "fixed"]


@pytest.mark.parametrize("owner", [Service, Flexible], ids=["inline path", "generic path"])
def test_silent_class_holds_on_every_path(owner: type) -> None:
    quiet = silent(type("Quiet", (owner,), {}))
    weave((owner, "create"), Emit(pre, post))
    with events_of() as events:
        quiet().create("a")
        owner().create("b")
    assert [event.kwargs["name"] for event in events] == ["b", "b"]


# -- secrets ----------------------------------------------------------------------


def test_secret_parameters_are_masked_by_name_in_args_and_in_kwargs() -> None:
    weave((Service, "login"), Emit(pre))
    with events_of() as events:
        Service().login("bob", "hunter2", api_key="k3y", session_token="s")
    sent = events[0].kwargs
    assert sent["password"] == MASK
    assert sent["api_key"] == MASK
    assert sent["session_token"] == MASK
    assert sent["args"] == ("bob", MASK)
    assert sent["kwargs"] == {"api_key": MASK, "session_token": MASK}
    assert "hunter2" not in repr(sent) and "k3y" not in repr(sent)


def test_secret_passed_by_keyword_is_masked() -> None:
    weave((this, "lookup"), Emit(pre))
    with events_of() as events:
        lookup("a", token="t0k3n")
    assert events[0].kwargs["token"] == MASK
    assert "t0k3n" not in repr(events[0].kwargs)


def test_secret_named_in_camel_case_is_masked() -> None:
    def change(user: str, newPassword: str) -> str:
        return user

    holder = type(sys)("holder")
    holder.change = change  # type: ignore[attr-defined]
    weave((holder, "change"), Emit(pre))
    with events_of() as events:
        holder.change("bob", "s3cr3t")
    assert events[0].kwargs["newPassword"] == MASK


def test_secret_instance_is_masked() -> None:
    weave((Service, "login"), Emit(pre, instance="password"))
    with events_of() as events:
        Service().login("bob", "hunter2")
    assert events[0].kwargs["instance"] == MASK


def test_secrets_go_out_unmasked_with_redact_empty() -> None:
    weave((Service, "login"), Emit(pre, redact=()))
    with events_of() as events:
        Service().login("bob", "hunter2", api_key="k3y")
    sent = events[0].kwargs
    assert sent["password"] == "hunter2"
    assert sent["args"] == ("bob", "hunter2")
    assert sent["kwargs"] == {"api_key": "k3y"}


def test_redact_takes_its_own_names() -> None:
    weave((Service, "create"), Emit(pre, redact=("size",)))
    with events_of() as events:
        Service().create("a", 5)
    assert events[0].kwargs["size"] == MASK
    assert events[0].kwargs["name"] == "a"


def test_call_arguments_are_unmasked() -> None:
    seen: list[dict[str, Any]] = []
    weave((Service, "login"), Emit(pre, sender=lambda call: seen.append(call.arguments)))
    with events_of():
        Service().login("bob", "hunter2")
    assert seen[0]["password"] == "hunter2"


def test_secret_names_are_the_documented_defaults() -> None:
    assert {"password", "passwd", "secret", "token", "api_key"} <= SECRET_NAMES
    assert MASK not in ("", None)


def test_the_target_still_gets_the_real_secret() -> None:
    got: list[str] = []

    class Vault:
        def open(self, password: str) -> None:
            got.append(password)

    weave((Vault, "open"), Emit(pre))
    with events_of():
        Vault().open("hunter2")
    assert got == ["hunter2"]


# -- veto, robust, error ------------------------------------------------------------


def test_pre_receiver_that_raises_vetoes_the_call() -> None:
    ran: list[str] = []

    class Door:
        def open(self, who: str) -> None:
            ran.append(who)

    def veto(**kwargs: Any) -> None:
        raise PermissionError("not you")

    weave((Door, "open"), Emit(pre, post, error))
    with (
        pre.connected_to(veto),
        events_of(post, error) as events,
        pytest.raises(PermissionError, match="not you"),
    ):
        Door().open("eve")
    assert ran == []
    assert events == []


def test_robust_logs_a_failing_pre_receiver_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    weave((Service, "create"), Emit(pre, post, robust=True))
    with pre.connected_to(broken), events_of(post) as events, caplog.at_level(logging.ERROR):
        assert Service().create("a") == "a:1"
    assert len(events) == 1
    assert "receiver bug" in caplog.text


def test_robust_logs_a_failing_post_receiver_and_returns_the_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    weave((Service, "create"), Emit(pre, post, robust=True))
    with post.connected_to(broken), caplog.at_level(logging.ERROR):
        assert Service().create("a") == "a:1"
    assert "receiver bug" in caplog.text


@pytest.mark.parametrize("flavour", ["django", "send only"])
def test_robust_isolates_receivers_of_foreign_signals(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    foreign: Any
    if flavour == "django":
        foreign = django.dispatch.Signal()
        foreign.connect(_raising_receiver, weak=False)
    else:
        foreign = SendOnly(fail=True)
    weave((Service, "create"), Emit(foreign, robust=True))
    with caplog.at_level(logging.ERROR):
        assert Service().create("a") == "a:1"
    assert "receiver bug" in caplog.text


def _raising_receiver(**kwargs: Any) -> None:
    raise RuntimeError("receiver bug")


def test_failing_post_receiver_reaches_the_caller_without_robust() -> None:
    weave((Service, "create"), Emit(pre, post, error))
    with (
        post.connected_to(_raising_receiver),
        events_of(error) as events,
        pytest.raises(RuntimeError, match="receiver bug"),
    ):
        Service().create("a")
    assert events == []


def test_error_signal_follows_pre_and_never_comes_with_post() -> None:
    weave((Service, "fail"), Emit(pre, post, error))
    with events_of() as events, pytest.raises(LookupError):
        Service().fail("x")
    assert kinds(events) == ["pre", "error"]


def test_error_signal_carries_the_same_arguments_plus_the_exception() -> None:
    weave((Service, "fail"), Emit(pre, post, error))
    with events_of() as events, pytest.raises(LookupError) as info:
        Service().fail("x")
    sent = dict(events[1].kwargs)
    assert sent.pop("exception") is info.value
    assert sent == events[0].kwargs


def test_original_exception_is_reraised_unchanged() -> None:
    raised = LookupError("original")

    class Store:
        def get(self, key: str) -> None:
            raise raised

    weave((Store, "get"), Emit(pre, post, error))
    with events_of(), pytest.raises(LookupError) as info:
        Store().get("k")
    assert info.value is raised
    assert info.value.__context__ is None


def test_failing_error_receiver_is_logged_and_the_original_exception_wins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    weave((Service, "fail"), Emit(pre, post, error))
    with (
        error.connected_to(_raising_receiver),
        caplog.at_level(logging.ERROR),
        pytest.raises(LookupError),
    ):
        Service().fail("x")
    assert "receiver bug" in caplog.text


@pytest.mark.parametrize("exception", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_error_signal_is_for_exceptions_only(exception: type[BaseException]) -> None:
    class Worker:
        def run(self) -> None:
            raise exception()

    weave((Worker, "run"), Emit(pre, post, error))
    with events_of() as events, pytest.raises(exception):
        Worker().run()
    assert kinds(events) == ["pre"]


# -- any signal -------------------------------------------------------------------


class SendOnly:
    """Stands where a signal is expected: only ``send``."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[Any, dict[str, Any]]] = []

    def send(self, sender: Any, **named: Any) -> list[Any]:
        if self.fail:
            raise RuntimeError("receiver bug")
        self.sent.append((sender, named))
        return []


def make_signal(flavour: str) -> Any:
    if flavour == "eventweave":
        return Signal()
    if flavour == "django":
        return django.dispatch.Signal()
    if flavour == "blinker":
        return blinker.Signal()
    return SendOnly()


def received(flavour: str, signal: Any) -> list[tuple[Any, dict[str, Any]]]:
    if flavour == "send only":
        return signal.sent  # type: ignore[no-any-return]
    got: list[tuple[Any, dict[str, Any]]] = []
    if flavour == "blinker":

        def blinker_receiver(sender: Any, /, **kwargs: Any) -> None:
            got.append((sender, kwargs))

        signal.connect(blinker_receiver, weak=False)
    else:

        def receiver(signal: Any, sender: Any, **kwargs: Any) -> None:
            got.append((sender, kwargs))

        signal.connect(receiver, weak=False)
    return got


FLAVOURS = ["eventweave", "django", "blinker", "send only"]


@pytest.mark.parametrize("role", ["pre", "post", "error"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_any_signal_flavour_works_in_every_role(flavour: str, role: str) -> None:
    signal = make_signal(flavour)
    got = received(flavour, signal)
    weave((Service, "fail" if role == "error" else "create"), Emit(**{role: signal}))
    if role == "error":
        with pytest.raises(LookupError) as info:
            Service().fail("x")
        expected: dict[str, Any] = {"exception": info.value}
    else:
        result = Service().create("x")
        expected = {"result": result} if role == "post" else {}
    assert len(got) == 1
    sender, kwargs = got[0]
    assert sender is Service
    assert kwargs["instance"] == "x"
    assert kwargs["name"] == "x"
    for key, value in expected.items():
        assert kwargs[key] == value


def test_object_without_send_is_refused_as_a_signal() -> None:
    with pytest.raises(TypeError, match=r"pre= must be a signal \(an object with .send"):
        Emit(pre=object())


# -- equality ------------------------------------------------------------------------


def test_equal_options_make_equal_advices() -> None:
    assert Emit(pre, post) == Emit(pre, post)
    assert hash(Emit(pre, post)) == hash(Emit(pre, post))


@pytest.mark.parametrize(
    "options",
    [
        {"error": error},
        {"sender": "other"},
        {"instance": "self"},
        {"action": "update"},
        {"robust": True},
        {"redact": ()},
        {"within": f"{__name__}:Service.create"},
    ],
)
def test_any_differing_option_makes_another_advice(options: dict[str, Any]) -> None:
    assert Emit(pre, post, **options) != Emit(pre, post)


def test_emit_repr_names_its_signals_and_options() -> None:
    text = repr(Emit(pre, None, error, within=VIEW_POST, action="create"))
    assert text.startswith("Emit(pre=<Signal at ")
    assert "post=" not in text
    assert "error=<Signal at " in text
    assert f"within=['{VIEW_POST}']" in text
    assert "action='create'" in text


def test_advices_of_different_subclasses_differ() -> None:
    class Other(Emit):
        pass

    assert Other(pre) != Emit(pre)


# -- within ----------------------------------------------------------------------


class View:
    def post(self, username: str, password: str) -> Any:
        return lookup(username)

    def get(self, username: str) -> Any:
        return lookup(username)


class AdminView(View):
    pass


VIEW_POST = f"{__name__}:View.post"


def test_within_emits_only_inside_the_other_target() -> None:
    weave((this, "lookup"), Emit(pre, within=VIEW_POST))
    with events_of() as events:
        lookup("outside")
        View().get("other view method")
        View().post("inside", "pw")
    assert [event.kwargs["name"] for event in events] == ["inside"]


def test_within_lets_the_sender_come_from_the_enclosing_call() -> None:
    weave((this, "lookup"), Emit(pre, within=VIEW_POST, sender=lambda call: call.flow.sender))
    with events_of() as events:
        AdminView().post("bob", "pw")
    assert events[0].sender is AdminView


def test_within_frame_has_the_enclosing_calls_self_and_arguments() -> None:
    frames: list[Any] = []
    weave(
        (this, "lookup"),
        Emit(pre, within=VIEW_POST, sender=lambda call: frames.append(call.flow)),
    )
    view = View()
    with events_of():
        view.post("bob", "pw")
    assert frames[0].self is view
    assert frames[0].arguments == {"username": "bob", "password": "pw"}


def test_within_takes_a_list_of_targets() -> None:
    weave((this, "lookup"), Emit(pre, within=[VIEW_POST, f"{__name__}:View.get"]))
    with events_of() as events:
        lookup("outside")
        View().get("a")
        View().post("b", "pw")
    assert [event.kwargs["name"] for event in events] == ["a", "b"]


def test_within_takes_an_owner_attribute_pair() -> None:
    weave((this, "lookup"), Emit(pre, within=(View, "post")))
    with events_of() as events:
        lookup("outside")
        View().post("inside", "pw")
    assert [event.kwargs["name"] for event in events] == ["inside"]


def test_within_is_per_thread() -> None:
    weave((this, "lookup"), Emit(pre, within=VIEW_POST))
    entered, done = threading.Event(), threading.Event()

    class Slow(View):
        def post(self, username: str, password: str) -> Any:
            entered.set()
            done.wait(5)
            return super().post(username, password)

    with events_of() as events:
        worker = threading.Thread(target=Slow().post, args=("inside", "pw"))
        worker.start()
        try:
            assert entered.wait(5)
            lookup("other thread")
        finally:
            done.set()
            worker.join(5)
    assert [event.kwargs["name"] for event in events] == ["inside"]


def test_within_a_module_not_imported_yet_applies_on_import() -> None:
    module_name = f"{PACKAGE}.lazy_views"
    forget("lazy_views")
    try:
        weave(
            f"{module_name}:authenticate",
            Emit(pre, post, within=f"{module_name}:LoginView.post", sender=_flow_sender),
        )
        module = importlib.import_module(module_name)
        with events_of() as events:
            module.authenticate("bob", "right")
            module.AdminLoginView().post("bob", "right")
        assert kinds(events) == ["pre", "post"]
        assert events[0].sender is module.AdminLoginView
        assert events[0].kwargs["password"] == MASK
        assert events[1].kwargs["result"] == "bob"
    finally:
        unweave_all()
        forget("lazy_views")


def _flow_sender(call: Call) -> Any:
    return call.flow.sender if call.flow is not None else None


def marked(owner: Any, attribute: str) -> bool:
    return any(o is owner and a == attribute for o, a, _ in slots())


def test_unweaving_a_within_advice_removes_the_flow_mark() -> None:
    original = vars(View)["post"]
    weaving = weave((this, "lookup"), Emit(pre, within=VIEW_POST))
    assert marked(View, "post")
    weaving.unweave()
    assert not marked(View, "post")
    assert vars(View)["post"] is original


def test_within_with_a_missing_target_fails_and_leaves_no_flow_mark() -> None:
    original = vars(View)["post"]
    with pytest.raises(WeaveError, match="did you mean 'post'"):
        weave((this, "lookup"), Emit(pre, within=[VIEW_POST, f"{__name__}:View.pots"]))
    assert vars(View)["post"] is original
    assert not hasattr(lookup, "__wrapped__")


def test_within_with_an_invalid_target_is_refused() -> None:
    with pytest.raises(WeaveError, match="a target string is"):
        Emit(pre, within="View.post")
    with pytest.raises(TypeError, match="within= takes a target string"):
        Emit(pre, within=[3])


# -- emits ----------------------------------------------------------------------------


class Decorated:
    @emits(pre, post)
    def create(self, name: str) -> str:
        return name

    @emits(pre, post)
    @classmethod
    def build_outer(cls, name: str) -> str:
        return name

    @classmethod
    @emits(pre, post)
    def build_inner(cls, name: str) -> str:
        return name

    @emits(pre, post)
    @staticmethod
    def check_outer(name: str) -> str:
        return name

    @staticmethod
    @emits(pre, post)
    def check_inner(name: str) -> str:
        return name

    @emits(pre, post)
    async def fetch(self, name: str) -> str:
        await asyncio.sleep(0)
        return name


class SubDecorated(Decorated):
    pass


@emits(pre, post, error)
def decorated_function(name: str, password: str = "") -> str:
    if not name:
        raise ValueError("empty")
    return name


def test_emits_on_a_method_sends_the_runtime_class() -> None:
    with events_of() as events:
        SubDecorated().create("a")
    assert [(event.sender, event.kwargs["instance"]) for event in events] == [
        (SubDecorated, "a"),
        (SubDecorated, "a"),
    ]


@pytest.mark.parametrize("name", ["build_outer", "build_inner"])
def test_emits_with_classmethod_in_either_order_sends_cls(name: str) -> None:
    with events_of() as events:
        assert getattr(SubDecorated, name)("a") == "a"
        getattr(SubDecorated(), name)("b")
    assert [event.sender for event in events] == [SubDecorated] * 4
    assert [event.kwargs["instance"] for event in events] == ["a", "a", "b", "b"]


@pytest.mark.parametrize("name", ["check_outer", "check_inner"])
def test_emits_with_staticmethod_in_either_order_sends_the_first_argument(name: str) -> None:
    with events_of() as events:
        assert getattr(SubDecorated, name)("a") == "a"
        assert getattr(SubDecorated(), name)("b") == "b"
    assert [event.kwargs["instance"] for event in events] == ["a", "a", "b", "b"]
    assert [event.kwargs["args"] for event in events] == [("a",), ("a",), ("b",), ("b",)]
    assert {event.sender for event in events} == {this}


def test_emits_on_a_function_sends_the_module_and_masks_secrets() -> None:
    with events_of() as events:
        decorated_function("a", password="pw")
    assert events[0].sender is this
    assert events[0].kwargs["password"] == MASK


def test_emits_sends_error_with_the_exception() -> None:
    with events_of() as events, pytest.raises(ValueError) as info:
        decorated_function("")
    assert kinds(events) == ["pre", "error"]
    assert events[1].kwargs["exception"] is info.value


def test_emits_on_async_def_posts_after_the_await() -> None:
    assert inspect.iscoroutinefunction(Decorated.fetch)
    with events_of() as events:
        assert asyncio.run(Decorated().fetch("a")) == "a"
    assert events[1].kwargs["result"] == "a"


def test_emits_keeps_the_signature_name_and_doc() -> None:
    def documented(self: Any, name: str, size: int = 2) -> str:
        """Documented."""
        return name

    decorated = emits(pre)(documented)
    assert inspect.signature(decorated) == inspect.signature(documented)
    assert decorated.__name__ == "documented"
    assert decorated.__doc__ == "Documented."
    assert inspect.unwrap(decorated) is documented


def test_emits_decorates_a_callable_object() -> None:
    class Scaler:
        def __call__(self, x: float, factor: float = 2.0) -> float:
            return x * factor

    scale = emits(pre, post)(Scaler())
    with events_of() as events:
        assert scale(3.0) == 6.0
    assert [event.kwargs["result"] for event in events[1:]] == [6.0]
    assert events[0].kwargs["x"] == 3.0
    assert events[0].kwargs["instance"] == 3.0


def test_emits_refuses_what_is_not_callable() -> None:
    with pytest.raises(TypeError, match="@emits decorates a function or method"):
        emits(pre)(42)  # type: ignore[type-var]


def test_emits_takes_emit_options() -> None:
    class Local:
        @emits(pre, instance="self", sender="fixed")
        def run(self) -> None:
            pass

    local = Local()
    with events_of() as events:
        local.run()
    assert (events[0].sender, events[0].kwargs["instance"]) == ("fixed", local)


class Runner:
    def run(self, callback: Any) -> Any:
        return callback()


def test_emits_within_keeps_working_after_unweave_all() -> None:
    @emits(pre, within=f"{__name__}:Runner.run")
    def step(name: str) -> str:
        return name

    unweave_all()
    with events_of() as events:
        step("outside")
        Runner().run(lambda: step("inside"))
    assert [event.kwargs["name"] for event in events] == ["inside"]


def test_emits_within_releases_its_flow_mark_with_the_function() -> None:
    original = vars(Runner)["run"]

    @emits(pre, within=f"{__name__}:Runner.run")
    def step(name: str) -> str:
        return name

    assert marked(Runner, "run")
    del step
    gc.collect()
    assert not marked(Runner, "run")
    assert vars(Runner)["run"] is original


def test_silent_over_emits_silences_the_decorated_function() -> None:
    class Local:
        @silent
        @emits(pre)
        def quiet(self) -> str:
            return "q"

    with events_of() as events:
        assert Local().quiet() == "q"
    assert events == []


def test_mark_reaches_a_method_decorated_with_emits() -> None:
    class Local:
        @emits(pre)
        def run(self) -> str:
            return "r"

    mark((Local, "run"), silent=True)
    with events_of() as events:
        Local().run()
    assert events == []


def test_silent_on_an_emits_function_while_someone_listens_counts_from_the_next_call() -> None:
    @emits(pre)
    def pay(amount: int) -> int:
        return amount

    with events_of(pre) as events:
        pay(1)  # the listening form is built and installed
        silent(pay)
        assert pay(2) == 2
    assert [event.kwargs["amount"] for event in events] == [1]


def test_mark_on_an_emits_method_while_someone_listens_counts_from_the_next_call() -> None:
    class Local:
        @emits(pre)
        def run(self, n: int) -> int:
            return n

    with events_of(pre) as events:
        Local().run(1)
        mark((Local, "run"), silent=True)
        Local().run(2)
        mark((Local, "run"), silent=False)
        Local().run(3)
    assert [event.kwargs["n"] for event in events] == [1, 3]


def test_trigger_instead_over_emits_marks_the_decorated_function() -> None:
    class Local:
        @trigger_instead("modify")
        @emits(pre)
        def run(self) -> str:
            return "r"

    assert triggered_action(inspect.unwrap(vars(Local)["run"])) == "modify"


# -- silent ---------------------------------------------------------------------------


def test_silent_function_emits_nothing_and_still_runs() -> None:
    def quiet(name: str) -> str:
        return name

    holder = type(sys)("holder")
    holder.quiet = silent(quiet)  # type: ignore[attr-defined]
    weave((holder, "quiet"), Emit(pre, post))
    with events_of() as events:
        assert holder.quiet("a") == "a"
    assert events == []


def test_silent_method_emits_nothing() -> None:
    class Local:
        @silent
        def quiet(self) -> str:
            return "q"

        def loud(self) -> str:
            return "l"

    weave((Local, "quiet"), Emit(pre))
    weave((Local, "loud"), Emit(pre))
    with events_of() as events:
        assert Local().quiet() == "q"
        Local().loud()
    assert [event.kwargs["method"] for event in events] == ["loud"]


def test_silent_class_emits_nothing() -> None:
    @silent
    class Quiet:
        def run(self, x: int) -> int:
            return x

    weave((Quiet, "run"), Emit(pre))
    with events_of() as events:
        assert Quiet().run(1) == 1
    assert events == []


def test_silent_class_silences_its_subclasses() -> None:
    @silent
    class Quiet:
        def run(self, x: int) -> int:
            return x

    class Quieter(Quiet):
        pass

    weave((Quiet, "run"), Emit(pre))
    with events_of() as events:
        Quieter().run(1)
    assert events == []
    assert is_silent(Quieter)


def test_subclass_can_be_unsilenced_without_unsilencing_its_base() -> None:
    @silent
    class Quiet:
        def run(self, x: int) -> int:
            return x

    class Loud(Quiet):
        pass

    holder = type(sys)("holder")
    holder.Loud = Loud  # type: ignore[attr-defined]
    weave((Quiet, "run"), Emit(pre))
    mark((holder, "Loud"), silent=False)
    with events_of() as events:
        Quiet().run(1)
        Loud().run(2)
    assert [event.kwargs["x"] for event in events] == [2]


def test_silent_marks_a_builtin_that_refuses_attributes() -> None:
    import math

    holder = type(sys)("holder")
    holder.sqrt = math.sqrt  # type: ignore[attr-defined]
    weave((holder, "sqrt"), Emit(pre))
    mark((holder, "sqrt"), silent=True)
    try:
        assert is_silent(math.sqrt)
        with events_of() as events:
            assert holder.sqrt(4.0) == 2.0
        assert events == []
    finally:
        mark((holder, "sqrt"), silent=False)
    assert not is_silent(math.sqrt)
    assert id(math.sqrt) not in _advice._foreign_marks  # woven calls skip the lookup again
    with events_of() as events:
        holder.sqrt(4.0)
    assert len(events) == 1


def test_silent_returns_what_it_marks() -> None:
    def function() -> None:
        pass

    assert silent(function) is function


# -- trigger_instead ---------------------------------------------------------------

modify_pre, modify_post, modify_error = Signal(), Signal(), Signal()


class FamilyEmit(Emit):
    """An advice that knows the signals of another action."""

    def signals_for(self, action: str) -> tuple[Any, Any, Any] | None:
        if action == "modify":
            return modify_pre, modify_post, modify_error
        return None


class Helper:
    def create(self, name: str) -> str:
        return name

    @trigger_instead("modify")
    def create_or_modify(self, name: str) -> str:
        return name


def test_trigger_instead_decorator_emits_the_other_actions_signals() -> None:
    weave((Helper, "create_or_modify"), FamilyEmit(pre, post, action="create"))
    with events_of(pre, post, modify_pre, modify_post) as events:
        Helper().create_or_modify("a")
    assert [event.signal for event in events] == [modify_pre, modify_post]
    assert events[0].kwargs["instance"] == "a"


def test_trigger_instead_an_action_the_advice_does_not_know_keeps_its_own_signals() -> None:
    class Local:
        @trigger_instead("archive")
        def create(self, name: str) -> str:
            return name

    weave((Local, "create"), FamilyEmit(pre, post))
    with events_of(pre, post, modify_pre, modify_post) as events:
        Local().create("a")
    assert [event.signal for event in events] == [pre, post]


def test_trigger_instead_takes_the_error_signal_of_the_other_action() -> None:
    class Local:
        @trigger_instead("modify")
        def create(self, name: str) -> str:
            raise LookupError(name)

    weave((Local, "create"), FamilyEmit(pre, post, error))
    with (
        events_of(pre, post, error, modify_pre, modify_error) as events,
        pytest.raises(LookupError),
    ):
        Local().create("a")
    assert [event.signal for event in events] == [modify_pre, modify_error]


def test_trigger_instead_gate_opens_for_the_other_actions_receivers() -> None:
    weave((Helper, "create_or_modify"), FamilyEmit(pre, post))
    got: list[Any] = []
    with modify_post.connected_to(lambda **kw: got.append(kw["result"])):
        Helper().create_or_modify("a")
    assert got == ["a"]


def test_trigger_instead_rejects_a_bad_action_name() -> None:
    with pytest.raises(ValueError, match="takes an action name such as 'update'"):
        trigger_instead("not an action")


def test_trigger_instead_returns_the_function() -> None:
    def function() -> None:
        pass

    assert trigger_instead("update")(function) is function
    assert triggered_action(function) == "update"


# -- mark --------------------------------------------------------------------------


def make_helper() -> type:
    class Local:
        def create(self, name: str) -> str:
            return name

        @classmethod
        def build(cls, name: str) -> str:
            return name

        @staticmethod
        def check(name: str) -> str:
            return name

    return Local


@pytest.mark.parametrize("name", ["create", "build", "check"])
@pytest.mark.parametrize("when", ["before weaving", "after weaving"])
def test_mark_silent_is_honoured_whenever_it_is_set(when: str, name: str) -> None:
    local = make_helper()
    if when == "before weaving":
        mark((local, name), silent=True)
    weave((local, name), Emit(pre))
    if when == "after weaving":
        mark((local, name), silent=True)
    with events_of() as events:
        assert getattr(local(), name)("a") == "a"
    assert events == []


@pytest.mark.parametrize("name", ["create", "build", "check"])
@pytest.mark.parametrize("when", ["before weaving", "after weaving"])
def test_mark_trigger_instead_is_honoured_whenever_it_is_set(when: str, name: str) -> None:
    local = make_helper()
    if when == "before weaving":
        mark((local, name), trigger_instead="modify")
    weave((local, name), FamilyEmit(pre, post))
    if when == "after weaving":
        mark((local, name), trigger_instead="modify")
    with events_of(pre, post, modify_pre, modify_post) as events:
        getattr(local(), name)("a")
    assert [event.signal for event in events] == [modify_pre, modify_post]


def test_mark_silent_false_removes_the_marker() -> None:
    local = make_helper()
    weave((local, "create"), Emit(pre))
    mark((local, "create"), silent=True)
    mark((local, "create"), silent=False)
    with events_of() as events:
        local().create("a")
    assert len(events) == 1


def test_mark_trigger_instead_false_removes_the_marker() -> None:
    local = make_helper()
    weave((local, "create"), FamilyEmit(pre, post))
    mark((local, "create"), trigger_instead="modify")
    mark((local, "create"), trigger_instead=False)
    with events_of(pre, post, modify_pre, modify_post) as events:
        local().create("a")
    assert [event.signal for event in events] == [pre, post]


def test_mark_by_string_on_an_imported_module() -> None:
    local = make_helper()
    this.MarkedHere = local  # type: ignore[attr-defined]
    try:
        mark(f"{__name__}:MarkedHere.create", silent=True)
        weave((local, "create"), Emit(pre))
        with events_of() as events:
            local().create("a")
        assert events == []
    finally:
        del this.MarkedHere


@pytest.fixture
def lazy_marked() -> Iterator[str]:
    forget("lazy_marked")
    yield f"{PACKAGE}.lazy_marked"
    forget("lazy_marked")


def test_mark_by_string_before_import_applies_on_import(lazy_marked: str) -> None:
    mark(f"{lazy_marked}:Helper.create", trigger_instead="modify")
    weave(f"{lazy_marked}:Helper.create", FamilyEmit(pre, post))
    module = importlib.import_module(lazy_marked)
    with events_of(pre, post, modify_pre, modify_post) as events:
        module.Helper().create("a")
    assert [event.signal for event in events] == [modify_pre, modify_post]


def test_mark_of_a_missing_target_at_import_is_logged(
    lazy_marked: str, caplog: pytest.LogCaptureFixture
) -> None:
    mark(f"{lazy_marked}:Helper.craete", silent=True)
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        importlib.import_module(lazy_marked)
    assert "did you mean 'create'" in caplog.text


def test_mark_needs_a_marker() -> None:
    with pytest.raises(TypeError, match="mark\\(\\) needs silent=True/False"):
        mark((Service, "create"))


def test_mark_rejects_a_bad_action_name() -> None:
    with pytest.raises(ValueError, match="action name"):
        mark((Service, "create"), trigger_instead="two words")


def test_mark_of_a_missing_attribute_names_it() -> None:
    with pytest.raises(WeaveError, match="'craete'"):
        mark((Service, "craete"), silent=True)


# -- muted ---------------------------------------------------------------------------


def test_muted_emits_nothing_and_calls_still_run() -> None:
    weave((Service, "create"), Emit(pre, post))
    with events_of() as events, muted():
        assert is_muted()
        assert Service().create("a") == "a:1"
    assert events == []
    assert not is_muted()


def test_muted_ends_with_its_block() -> None:
    weave((Service, "create"), Emit(pre))
    with events_of() as events:
        with muted():
            Service().create("quiet")
        Service().create("loud")
    assert [event.kwargs["name"] for event in events] == ["loud"]


def test_muted_is_per_thread() -> None:
    weave((Service, "create"), Emit(pre))
    entered, done = threading.Event(), threading.Event()

    def quiet() -> None:
        with muted():
            entered.set()
            done.wait(5)
            Service().create("muted thread")

    with events_of() as events:
        worker = threading.Thread(target=quiet)
        worker.start()
        try:
            assert entered.wait(5)
            Service().create("this thread")
        finally:
            done.set()
            worker.join(5)
    assert [event.kwargs["name"] for event in events] == ["this thread"]


def test_muted_is_per_asyncio_task() -> None:
    weave((Service, "create"), Emit(pre))

    async def main() -> None:
        inside = asyncio.Event()
        release = asyncio.Event()

        async def quiet() -> None:
            with muted():
                inside.set()
                await release.wait()
                Service().create("muted task")

        task = asyncio.create_task(quiet())
        await inside.wait()
        Service().create("this task")
        release.set()
        await task

    with events_of() as events:
        asyncio.run(main())
    assert [event.kwargs["name"] for event in events] == ["this task"]


def test_muted_works_as_a_decorator() -> None:
    weave((Service, "create"), Emit(pre))

    @muted()
    def quietly() -> str:
        return Service().create("a")

    with events_of() as events:
        assert quietly() == "a:1"
    assert events == []


def test_mark_on_an_object_marks_the_method_its_class_defines() -> None:
    local = make_helper()
    weave((local, "create"), Emit(pre))
    mark((local(), "create"), silent=True)  # not a bound method made for the occasion
    with events_of() as events:
        local().create("a")
    assert events == []


def test_mark_of_a_missing_method_suggests_the_nearest_name() -> None:
    local = make_helper()
    with pytest.raises(WeaveError, match="did you mean 'create'"):
        mark((local, "craete"), silent=True)


@pytest.mark.parametrize("name", ["X-Api-Key", "x_api_key", "apiKey", "X-Auth-Token"])
def test_names_with_dashes_or_case_are_secret_too(name: str) -> None:
    from eventweave._advice import is_secret

    assert is_secret(name, SECRET_NAMES)


def test_an_instance_callable_sees_the_phase_and_what_pre_sent() -> None:
    seen: list[tuple[str, Any]] = []

    def instance(call: Any) -> Any:
        seen.append((call.phase, call.instance))
        return "before" if call.phase == "pre" else call.instance

    class Local:
        def run(self, x: int) -> int:
            return x

    weave((Local, "run"), Emit(pre, post, instance=instance))
    with events_of(pre, post) as events:
        Local().run(1)
    assert seen == [("pre", None), ("post", "before")]
    assert [e.kwargs["instance"] for e in events] == ["before", "before"]


def test_star_args_named_like_a_secret_are_masked_in_args_too() -> None:
    def store(user: str, *passwords: str) -> int:
        return len(passwords)

    holder = types.ModuleType("holder")
    holder.store = store  # type: ignore[attr-defined]
    weave((holder, "store"), Emit(pre))
    with events_of() as events:
        assert holder.store("ann", "s3cret", "0ther") == 2  # type: ignore[attr-defined]
    sent = events[0].kwargs
    assert sent["args"] == ("ann", MASK, MASK)
    assert sent["passwords"] == MASK
    assert "s3cret" not in repr(sent)


@pytest.mark.parametrize("listened", ["ours", "django's"])
def test_an_advice_mixing_our_signal_and_a_django_one_emits_whichever_is_listened_to(
    listened: str,
) -> None:
    ours, djangos = Signal(), django.dispatch.Signal()

    class Mixed:
        def run(self, value: int) -> int:
            return value

    weave((Mixed, "run"), Emit(pre=ours, post=djangos))
    got: list[str] = []
    if listened == "ours":
        ours.connect(lambda **kw: got.append("pre"), weak=False)
    else:
        djangos.connect(lambda **kw: got.append("post"), weak=False)
    assert Mixed().run(1) == 1
    assert got == (["pre"] if listened == "ours" else ["post"])


def test_a_generic_listening_form_holds_the_built_closures_not_methods_that_forward() -> None:
    # **kwargs takes the generic path; what it calls per call is what was built
    # when someone first listened, not a method looking it up again each time.
    class Billing:
        def pay(self, amount: int, **extra: Any) -> int:
            return amount

    with events_of(pre) as events:
        weaving = weave((Billing, "pay"), Emit(pre))
        try:
            assert Billing().pay(5, note="x") == 5
            code = Billing.pay.__code__
            forwarding = [c for c in code.co_consts if isinstance(c, types.MethodType)]
        finally:
            weaving.unweave()
    assert [event.kwargs["amount"] for event in events] == [5]
    if os.environ.get("EVENTWEAVE_DISABLE_INPLACE"):
        return  # the wrapper's code is not the function's own
    assert forwarding == []


def test_the_gate_follows_signals_an_advice_sets_after_it_was_made() -> None:
    class Late(Emit):
        """Sets its signals when bound, as a plan's advice does."""

        def __init__(self, pre: Signal) -> None:
            super().__init__()
            self.late = pre

        def bind(self, site: Any) -> Any:
            self.pre = self.late
            return super().bind(site)

    pre = Signal()
    advice = Late(pre)
    assert advice._gate() == ()  # nothing to send yet
    site = Site("t", None, "f", "function", lambda: None, (), False)
    assert advice.bind(site).gate == (pre,)
    foreign = Emit(types.SimpleNamespace(receivers=[], send=lambda *a, **k: []))
    assert foreign._gate() == foreign.signals()


def test_a_gate_is_kept_only_under_the_signals_it_was_made_from() -> None:
    import eventweave._advice as advice_module

    first, second = Signal(), Signal()
    advice = Emit(first)

    def set_pre_while_the_gate_is_made(frame: Any, event: str, arg: Any) -> None:
        # What another thread setting the advice's signal meanwhile does.
        if event == "call" and frame.f_code is advice_module._gate_of.__code__:
            advice.pre = second

    profiler = sys.getprofile()
    sys.setprofile(set_pre_while_the_gate_is_made)
    try:
        made = advice._gate()
    finally:
        sys.setprofile(profiler)
    assert made == (first,)
    assert advice._gate() == (second,)  # made again for the signal set meanwhile


def test_a_signal_replaced_on_an_advice_is_not_kept_alive_by_its_gate() -> None:
    import weakref

    first = Signal()
    advice = Emit(first)
    assert advice._gate() == (first,)
    gone = weakref.ref(first)
    advice.pre = Signal()  # a plan binding its own signal late
    del first
    gc.collect()
    assert gone() is None
    assert advice._gate() == (advice.pre,)
