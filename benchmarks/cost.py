"""The cost contract's figures (DESIGN.md, "The cost contract"), each against its baseline.

Baselines are what a person writes without eventweave, timed on the call
expression: the bare call; a hand-written one-frame pass-through; the events
written inline as a literal ``for r in receivers: r(signal=..., ...)`` loop;
a hand-written ``send(sender, **named)`` forwarding to each receiver; a
foreign signal's own ``send`` called by hand. Peers (Django, blinker,
psygnal, a wrapt pass-through, ddtrace's wrapping when it is installed)
are shown beside them.
"""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import types
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import blinker
import django.dispatch
import wrapt

import eventweave
from eventweave import Emit, Signal, weave
from eventweave._weaving._codegen import INPLACE_ENV

from ._harness import Growth, Ratio

# The target: a small method with two parameters, the kind one weaves.
SOURCE = """
class Invoice:
    rate = 3

    def pay(self, amount, currency="EUR"):
        return amount * self.rate
"""

# The same events, written by hand inside the method: literal loops over the
# receivers, literal keywords, the values the woven call sends.
HAND_INLINE = """
class Invoice:
    rate = 3

    def pay(self, amount, currency="EUR"):
        sender = type(self)
        args = (amount, currency)
        kwargs = {}
        for receiver in pre_receivers:
            receiver(signal=pre, sender=sender, instance=amount, method="pay", args=args,
                     kwargs=kwargs, amount=amount, currency=currency)
        result = amount * self.rate
        for receiver in post_receivers:
            receiver(signal=post, sender=sender, instance=amount, method="pay", args=args,
                     kwargs=kwargs, amount=amount, currency=currency, result=result)
        return result
"""

# A foreign signal's own send, called by hand inside the method.
HAND_FOREIGN = """
class Invoice:
    rate = 3

    def pay(self, amount, currency="EUR"):
        sender = type(self)
        args = (amount, currency)
        kwargs = {}
        pre.send(sender, instance=amount, method="pay", args=args, kwargs=kwargs,
                 amount=amount, currency=currency)
        result = amount * self.rate
        post.send(sender, instance=amount, method="pay", args=args, kwargs=kwargs,
                  amount=amount, currency=currency, result=result)
        return result
"""

# A hand-written pass-through replacing the attribute: one frame, nothing else.
HAND_PASSTHROUGH = """
def pay(self, amount, currency="EUR"):
    return original(self, amount, currency)
"""


def fresh(source: str, module: str, **names: Any) -> dict[str, Any]:
    """Run ``source`` as a module of its own (so weaving it in place touches nothing else).

    Its source is kept where ``inspect`` finds it, as a module read from a
    file has it: what eventweave does with a function depends on that.
    """
    namespace: dict[str, Any] = {"__name__": module, **names}
    filename = f"<benchmark {module}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def receive(signal: Any = None, sender: Any = None, **named: Any) -> None:
    return None


def receivers(n: int) -> list[Callable[..., None]]:
    """``n`` distinct receiver functions (kept alive by the caller, weakly connected).

    Closures, not module-level functions: the signal must follow a weak
    reference to each, its slowest path.
    """
    made = []
    for _ in range(n):

        def each(signal: Any = None, sender: Any = None, **named: Any) -> None:
            return None

        made.append(each)
    return made


@contextmanager
def wrapper_path() -> Any:
    """Weave through a generated wrapper where the function could be woven in place."""
    saved = os.environ.get(INPLACE_ENV)
    os.environ[INPLACE_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ[INPLACE_ENV]
        else:
            os.environ[INPLACE_ENV] = saved


def _ddtrace_wrap() -> Callable[[Any, Any], None] | None:
    try:
        module = importlib.import_module("ddtrace.internal.wrapping")
    except Exception:  # not installed, or does not import here
        return None
    return getattr(module, "wrap", None)


# -- a woven call with nobody listening -----------------------------------------


def idle() -> list[Ratio]:
    bare = fresh(SOURCE, "bench_bare")["Invoice"]()
    inplace_ns = fresh(SOURCE, "bench_inplace")
    weave((inplace_ns["Invoice"], "pay"), Emit(Signal(), Signal(), Signal()))
    woven = inplace_ns["Invoice"]()

    base = fresh(SOURCE, "bench_wrapped")["Invoice"]
    with wrapper_path():
        wrapped_cls = type("Invoice", (base,), {"__module__": "bench_wrapped"})
        weave((wrapped_cls, "pay"), Emit(Signal(), Signal(), Signal()))
    original = vars(base)["pay"]
    hand_cls = type(
        "Invoice",
        (base,),
        {"pay": fresh(HAND_PASSTHROUGH, "bench_hand", original=original)["pay"]},
    )

    wrapt_cls = type("Invoice", (base,), {})

    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    wrapt_cls.pay = wrapt.FunctionWrapper(original, passthrough)  # type: ignore[attr-defined]

    namespace = {
        "bare": bare,
        "woven": woven,
        "wrapped": wrapped_cls(),
        "hand": hand_cls(),
        "wrapt_": wrapt_cls(),
    }
    rows = [
        Ratio(
            "woven in place, nobody listening ÷ the bare call",
            "woven.pay(2)",
            "bare.pay(2)",
            namespace,
            limit=1.15,
        ),
        Ratio(
            "woven by a wrapper, nobody listening ÷ a hand-written pass-through",
            "wrapped.pay(2)",
            "hand.pay(2)",
            namespace,
            limit=1.1,
        ),
        Ratio(
            "hand-written pass-through (the floor for a wrapper) ÷ the bare call",
            "hand.pay(2)",
            "bare.pay(2)",
            namespace,
        ),
        Ratio("wrapt pass-through ÷ the bare call", "wrapt_.pay(2)", "bare.pay(2)", namespace),
    ]
    wrap = _ddtrace_wrap()
    if wrap is not None:
        dd = fresh(SOURCE, "bench_ddtrace")["Invoice"]

        def around(function: Any, args: Any, kwargs: Any) -> Any:
            return function(*args, **kwargs)

        wrap(vars(dd)["pay"], around)
        namespace["dd"] = dd()
        rows.append(
            Ratio("ddtrace's wrapping ÷ the bare call", "dd.pay(2)", "bare.pay(2)", namespace)
        )
    return rows


# -- a woven call with receivers ----------------------------------------------


def listening() -> list[Ratio]:
    pre, post, error = Signal(), Signal(), Signal()
    pre.connect(receive)
    post.connect(receive)
    hand = fresh(
        HAND_INLINE,
        "bench_hand_inline",
        pre=pre,
        post=post,
        pre_receivers=[receive],
        post_receivers=[receive],
    )["Invoice"]()
    inplace_cls = fresh(SOURCE, "bench_listening")["Invoice"]
    weave((inplace_cls, "pay"), Emit(pre, post, error))
    with wrapper_path():
        wrapped_cls = type("Invoice", (fresh(SOURCE, "bench_listening_w")["Invoice"],), {})
        weave((wrapped_cls, "pay"), Emit(pre, post, error))

    dj_pre, dj_post = django.dispatch.Signal(), django.dispatch.Signal()
    dj_pre.connect(receive)
    dj_post.connect(receive)
    dj_hand = fresh(HAND_FOREIGN, "bench_hand_django", pre=dj_pre, post=dj_post)["Invoice"]()
    dj_cls = fresh(SOURCE, "bench_django")["Invoice"]
    weave((dj_cls, "pay"), Emit(dj_pre, dj_post))

    bl_pre, bl_post = blinker.Signal(), blinker.Signal()
    bl_pre.connect(receive)
    bl_post.connect(receive)
    bl_hand = fresh(HAND_FOREIGN, "bench_hand_blinker", pre=bl_pre, post=bl_post)["Invoice"]()
    bl_cls = fresh(SOURCE, "bench_blinker")["Invoice"]
    weave((bl_cls, "pay"), Emit(bl_pre, bl_post))

    namespace = {
        "hand": hand,
        "woven": inplace_cls(),
        "wrapped": wrapped_cls(),
        "dj_hand": dj_hand,
        "dj_woven": dj_cls(),
        "bl_hand": bl_hand,
        "bl_woven": bl_cls(),
    }
    return [
        Ratio(
            "woven in place, one pre + one post receiver ÷ the loops written inline",
            "woven.pay(2)",
            "hand.pay(2)",
            namespace,
            limit=1.15,
        ),
        Ratio(
            "woven by a wrapper, one pre + one post receiver ÷ the loops inline",
            "wrapped.pay(2)",
            "hand.pay(2)",
            namespace,
            limit=1.15,
        ),
        Ratio(
            "woven, Django signals ÷ their own send() called by hand inline",
            "dj_woven.pay(2)",
            "dj_hand.pay(2)",
            namespace,
            limit=1.0,  # DESIGN.md: at most what calling their own send() by hand costs
        ),
        Ratio(
            "woven, blinker signals ÷ their own send() called by hand inline",
            "bl_woven.pay(2)",
            "bl_hand.pay(2)",
            namespace,
            limit=1.0,  # DESIGN.md: at most what calling their own send() by hand costs
        ),
    ]


# -- Signal.send -----------------------------------------------------------------

SEND_COUNTS = (0, 1, 10, 100)

HAND_SEND = """
def send(sender, **named):
    responses = []
    for receiver in receivers:
        responses.append((receiver, receiver(signal=signal, sender=sender, **named)))
    return responses
"""


def send(n: int) -> list[Ratio]:
    made = receivers(n)
    ours, dj, bl = Signal(), django.dispatch.Signal(), blinker.Signal()
    for each in made:
        ours.connect(each)
        dj.connect(each)
        bl.connect(each)
    hand = fresh(HAND_SEND, "bench_hand_send", receivers=made, signal=ours)["send"]
    namespace: dict[str, Any] = {
        "ours": ours,
        "dj": dj,
        "bl": bl,
        "hand": hand,
        "receivers": made,
        "Sender": object,
        "keep": made,
    }
    call = '.send(Sender, instance=1, method="pay")'
    rows = [
        Ratio(
            f"eventweave Signal.send, {n} receivers ÷ a hand-written send()",
            "ours" + call,
            'hand(Sender, instance=1, method="pay")',
            namespace,
            limit=1.1,
        ),
        Ratio(
            f"eventweave Signal.send, {n} receivers ÷ Django's",
            "ours" + call,
            "dj" + call,
            namespace,
            limit=1.0,
        ),
        Ratio(
            f"eventweave Signal.send, {n} receivers ÷ blinker's",
            "ours" + call,
            "bl" + call,
            namespace,
            limit=1.0,
        ),
        Ratio(
            f"Django Signal.send, {n} receivers ÷ a hand-written send()",
            "dj" + call,
            'hand(Sender, instance=1, method="pay")',
            namespace,
        ),
        Ratio(
            f"blinker Signal.send, {n} receivers ÷ a hand-written send()",
            "bl" + call,
            'hand(Sender, instance=1, method="pay")',
            namespace,
        ),
        Ratio(
            f"a hand-written send(), {n} receivers ÷ the literal loop",
            'hand(Sender, instance=1, method="pay")',
            'for r in receivers:\n    r(signal=ours, sender=Sender, instance=1, method="pay")',
            namespace,
        ),
    ]
    if n == 1:
        # A receiver connected with weak=False is held by its entry: the
        # signal calls it without following a weak reference.
        strong = Signal()
        strong.connect(receive, weak=False)
        namespace["strong"] = strong
        namespace["hand_strong"] = fresh(
            HAND_SEND, "bench_hand_send_strong", receivers=[receive], signal=strong
        )["send"]
        rows.append(
            Ratio(
                "eventweave Signal.send, 1 receiver connected weak=False ÷ a hand-written send()",
                "strong" + call,
                'hand_strong(Sender, instance=1, method="pay")',
                namespace,
                limit=1.1,
            )
        )
    psygnal = _psygnal(n)
    if psygnal is not None:
        namespace["ps"] = psygnal
        rows.append(
            Ratio(
                f"psygnal emit, {n} receivers ÷ a hand-written send() (positional only)",
                "ps.emit(1)",
                'hand(Sender, instance=1, method="pay")',
                namespace,
            )
        )
    return rows


def _psygnal(n: int) -> Any:
    try:
        psygnal = importlib.import_module("psygnal")
    except ImportError:
        return None
    instance = psygnal.SignalInstance((int,))
    for _ in range(n):
        instance.connect(lambda value: None)
    return instance


# -- growth: O(1) per item ---------------------------------------------------------


def _classes_module(n: int, name: str) -> types.ModuleType:
    """A module of ``n`` classes, each with its own ``pay``, nothing woven; the previous run's
    module is dropped.

    Only one run's classes stay alive: otherwise every run would leave
    thousands of classes behind, and the garbage collector, walking them
    all, would make each later run slower than the one before.
    """
    eventweave.unweave_all()
    for old in [key for key in sys.modules if key.startswith("bench_grow_")]:
        del sys.modules[old]
    source = "\n".join(
        f"class C{i}:\n    def pay(self, amount):\n        return amount\n" for i in range(n)
    )
    module = types.ModuleType(name)
    exec(compile(source, f"<benchmark {name}>", "exec"), vars(module))
    sys.modules[name] = module
    return module


def growth() -> list[Growth]:
    advice = Emit(Signal(), Signal())
    counter = iter(range(10**9))

    def weave_pairs(n: int, using: Emit = advice) -> Callable[[], None]:
        module = _classes_module(n, f"bench_grow_{next(counter)}")
        pairs = [(getattr(module, f"C{i}"), "pay") for i in range(n)]

        def run() -> None:
            for pair in pairs:
                weave(pair, using)

        return run

    def weave_strings(n: int) -> Callable[[], None]:
        module = _classes_module(n, f"bench_grow_{next(counter)}")
        targets = [f"{module.__name__}:C{i}.pay" for i in range(n)]

        def run() -> None:
            for target in targets:
                weave(target, advice)

        return run

    def weave_listened(n: int) -> Callable[[], None]:
        pre = Signal()
        pre.connect(receive)
        return weave_pairs(n, Emit(pre))

    def unweave(n: int) -> Callable[[], None]:
        module = _classes_module(n, f"bench_grow_{next(counter)}")
        for i in range(n):
            weave((getattr(module, f"C{i}"), "pay"), advice)
        return eventweave.unweave_all

    def mark(n: int) -> Callable[[], None]:
        module = _classes_module(n, f"bench_grow_{next(counter)}")
        for i in range(n):
            weave((getattr(module, f"C{i}"), "pay"), advice)
        pairs = [(getattr(module, f"C{i}"), "pay") for i in range(n)]

        def run() -> None:
            for pair in pairs:
                eventweave.mark(pair, silent=True)
            eventweave.unweave_all()

        return run

    def connect(n: int) -> Callable[[], None]:
        made = receivers(n)
        signal = Signal()

        def run() -> None:
            for each in made:
                signal.connect(each)

        return run

    def disconnect(n: int) -> Callable[[], None]:
        made = receivers(n)
        signal = Signal()
        for each in made:
            signal.connect(each)

        def run() -> None:
            for each in made:
                signal.disconnect(each)

        return run

    return [
        Growth("weave N methods, by (owner, attribute)", weave_pairs, (10_000, 1.0)),
        Growth("weave N methods, by target string", weave_strings, (10_000, 1.0)),
        Growth("weave N methods whose signal has a receiver", weave_listened, (10_000, 1.0)),
        Growth("unweave_all() of N weavings", unweave, (10_000, 0.5)),
        Growth("mark N woven methods silent (then unweave_all)", mark),
        Growth("connect N receivers to one signal", connect, (10_000, 0.1)),
        Growth("disconnect N receivers from one signal", disconnect),
    ]
