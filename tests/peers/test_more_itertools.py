"""more-itertools' own test suite, run with every one of its functions woven and listened to.

Code eventweave did not write, woven in place: each plain function of
``more_itertools.more`` and ``more_itertools.recipes`` gets an ``Emit`` whose
three signals have a receiver, so every call the suite makes runs a
listening form — one running the function's own body where that is sound
(see ``eventweave/_weaving/_inline.py``), one calling it otherwise. The
suite must pass as it does unwoven. Fetched from the sdist of a pinned
version (the last one supporting every Python eventweave supports), never
installed into the test environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

from eventweave._weaving._codegen import INPLACE_ENV

from . import _sdist

VERSION = "10.5.0"

RUNNER = textwrap.dedent(
    """
    import collections, inspect, sys, types, unittest

    sys.path.insert(0, ".")
    from more_itertools import more, recipes

    from eventweave import Emit, Signal, weave

    events = collections.Counter()

    def counter(name):
        def count(signal=None, sender=None, **named):
            events[name] += 1
        return count

    # Plain functions on signals of their own: each call of one sends pre,
    # then post or error (a generator closed early sends neither).
    plain = {name: Signal() for name in ("pre", "post", "error")}
    generators = Signal(), Signal(), Signal()
    keep = [counter(name) for name in plain]
    for (name, signal), receiver in zip(plain.items(), keep):
        signal.connect(receiver, weak=False)
    for signal in generators:
        signal.connect(counter("generators"), weak=False)
    woven = []
    for module in (more, recipes):
        for name, obj in vars(module).items():
            if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
                kind = generators if inspect.isgeneratorfunction(obj) else plain.values()
                weave((module, name), Emit(*kind))
                woven.append(obj)
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    codes = [function.__code__ for function in woven]
    own = {more.__file__, recipes.__file__}
    body = sum(code.co_filename in own and "_ew_snd" in code.co_varnames for code in codes)
    calling = sum(code.co_filename.startswith("<eventweave woven ") for code in codes)
    print(f"eventweave-peer: woven {len(woven)}, running their body {body}, "
          f"calling the original {calling}, pre {events['pre']}, post {events['post']}, "
          f"error {events['error']}, generators {events['generators']}", file=sys.stderr)
    sys.exit(0 if result.wasSuccessful() else 1)
    """
)


def test_more_itertools_suite_passes_with_every_function_woven_and_listened_to() -> None:
    root = _sdist.fetch("more-itertools", VERSION, ["more_itertools", "tests"])
    # In place whichever way the suite around it weaves: the suite calls the
    # functions through the package's namespace, which a wrapper in the
    # module's would not reach.
    environment = {key: value for key, value in os.environ.items() if key != INPLACE_ENV}
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    ran = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
    assert ran is not None and int(ran.group(1)) >= 800, output[-3000:]
    found = re.search(
        r"woven (\d+), running their body (\d+), calling the original (\d+), "
        r"pre (\d+), post (\d+), error (\d+), generators (\d+)",
        output,
    )
    assert found is not None, output[-3000:]
    woven, body, calling, pre, post, error, generators = map(int, found.groups())
    assert woven >= 150
    assert body >= 40  # plain functions whose body runs in the form
    assert calling >= 40  # generators and the rest: the form calls them
    # every call of a plain function ended with its post or its error event
    assert pre > 10_000 and pre == post + error, (pre, post, error)
    assert generators > 10_000
