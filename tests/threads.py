"""Running test threads together: released at once, bounded in time, errors reported."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


def run_threads(targets: Sequence[Callable[[], Any]], timeout: float = 30) -> None:
    """Run each target in a thread of its own, all released by one barrier.

    Fails if a thread is still running ``timeout`` seconds after the joins
    start (a hang), or if any target raised.
    """
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == []
