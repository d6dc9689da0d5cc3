"""Weaving while other threads import, call, connect and weave: nothing hangs, lost or doubled.

Deadlocks are checked in subprocesses with a timeout, so that a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventweave import Emit, Signal, unweave_all, weave, woven
from eventweave._weaving import slots
from eventweave._weaving._codegen import listening
from eventweave.testing import capture
from tests.threads import run_threads


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    yield
    unweave_all()


def test_two_threads_importing_targets_whose_signals_live_in_each_others_module_do_not_deadlock(
    tmp_path: Path,
) -> None:
    # Each module's weaving resolves its signal in the other module, while
    # another thread is importing that one: the engine's lock must never be
    # held while a plan imports, or the two imports wait on each other.
    for name, other in (("cross_a", "cross_b"), ("cross_b", "cross_a")):
        (tmp_path / f"{name}.py").write_text(
            textwrap.dedent(
                f"""
                import time
                time.sleep(0.2)  # both imports are under way before either ends
                import eventweave
                class Target:
                    def run(self):
                        return "{name}"
                signal_for_{other} = eventweave.Signal()
                """
            )
        )
    (tmp_path / "weave.toml").write_text(
        textwrap.dedent(
            """
            [[weave]]
            target = "cross_a:Target.run"
            pre = "cross_b:signal_for_cross_a"

            [[weave]]
            target = "cross_b:Target.run"
            pre = "cross_a:signal_for_cross_b"
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import importlib, sys, threading
        sys.path.insert(0, {str(tmp_path)!r})
        from eventweave import plan, woven
        plan.load({str(tmp_path / "weave.toml")!r}).apply()
        threads = [threading.Thread(target=importlib.import_module, args=(m,))
                   for m in ("cross_a", "cross_b")]
        for t in threads: t.start()
        for t in threads: t.join()
        print(sorted(w.target for w in woven() if w.applied))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['cross_a:Target.run', 'cross_b:Target.run']"


def test_top_level_module_imported_by_another_thread_is_woven_when_its_import_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, proceed = threading.Event(), threading.Event()
    (tmp_path / "slow_toplevel.py").write_text(
        "import conftest_gate\n"
        "conftest_gate.started.set()\n"
        "conftest_gate.proceed.wait(10)\n"
        "def save():\n    return 'saved'\n"
    )
    gate = type(sys)("conftest_gate")
    gate.started, gate.proceed = started, proceed  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "conftest_gate", gate)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = Signal()
    importer = threading.Thread(target=importlib.import_module, args=("slow_toplevel",))
    importer.start()
    try:
        assert started.wait(10)
        first = weave("slow_toplevel:save", Emit(post=saved))  # mid-import, in another thread
        second = weave("slow_toplevel:save", Emit(post=saved))
        assert second is first
        assert first.pending
        proceed.set()
        importer.join(10)
        assert first.applied  # no unrelated import was needed
        assert woven() == [first]
        with capture(saved) as events:
            sys.modules["slow_toplevel"].save()
        assert len(events) == 1
    finally:
        proceed.set()
        importer.join(10)
        sys.modules.pop("slow_toplevel", None)


def test_identical_weaves_racing_an_import_make_one_weaving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "raced_module.py").write_text(
        "import time\ntime.sleep(0.05)\ndef work():\n    return 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    post = Signal()
    advice = Emit(post=post)
    handles: list[Any] = []
    lock = threading.Lock()

    def weave_it() -> None:
        for _ in range(20):
            handle = weave("raced_module:work", advice)
            with lock:
                handles.append(handle)

    try:
        run_threads([weave_it, weave_it, lambda: importlib.import_module("raced_module"), weave_it])
        assert len({id(h) for h in handles}) == 1
        with capture(post) as events:
            sys.modules["raced_module"].work()
        assert len(events) == 1
    finally:
        sys.modules.pop("raced_module", None)


def test_connects_and_disconnects_racing_leave_the_code_matching_who_listens() -> None:
    class Job:
        def run(self, x: int) -> int:
            return x

    pre = Signal()
    weave((Job, "run"), Emit(pre))
    function = vars(Job)["run"]

    def churn() -> None:
        def receiver(**kwargs: Any) -> None:
            pass

        for _ in range(200):
            pre.connect(receiver)
            Job().run(1)
            pre.disconnect(receiver)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        run_threads([churn, churn, churn, churn])
    finally:
        sys.setswitchinterval(interval)
    assert not listening(pre)
    assert not function.__code__.co_filename.startswith("<eventweave woven")
    got: list[int] = []
    pre.connect(lambda **kw: got.append(kw["x"]), weak=False)
    Job().run(7)
    assert got == [7]


def test_calls_during_weave_and_unweave_churn_run_the_original_exactly_once() -> None:
    runs: list[int] = []
    lock = threading.Lock()

    class Counter:
        def hit(self, x: int) -> int:
            with lock:
                runs.append(x)
            return x

    pre = Signal()
    pre.connect(lambda **kw: None, weak=False)
    stop = threading.Event()
    called: list[int] = []

    def call() -> None:
        counter = Counter()
        while not stop.is_set():
            assert counter.hit(1) == 1
            with lock:
                called.append(1)

    def churn() -> None:
        try:
            for _ in range(100):
                weaving = weave((Counter, "hit"), Emit(pre))
                weaving.unweave()
        finally:
            stop.set()

    run_threads([call, call, churn])
    assert len(runs) == len(called)
    assert not list(slots())
