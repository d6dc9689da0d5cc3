"""The public names are a contract: each ``__all__`` is exactly what the design promises."""

from __future__ import annotations

import ast
import importlib
import importlib.resources
import subprocess
import sys
from pathlib import Path

import pytest

import eventweave
import eventweave.testing

PACKAGE = Path(eventweave.__file__).resolve().parent

# DESIGN.md, "eventweave (top level)": every name it gives the top level
# (connected_to is listed there as a method of Signal).
CONTRACT = {
    "Signal",
    "receiver",
    "weave",
    "Weaving",
    "emits",
    "Emit",
    "SECRET_NAMES",
    "silent",
    "trigger_instead",
    "mark",
    "muted",
    "woven",
    "unweave_all",
}
# Named by the engine's documentation rather than DESIGN.md, and public on
# purpose: the exception weave() raises, what Emit's callables receive, and
# the mask that replaces secrets (so tests can assert on it).
DOCUMENTED_ADDITIONS = {"WeaveError", "Call", "MASK"}

# DESIGN.md, "eventweave.testing" and "eventweave.testing (more)".
TESTING_CONTRACT = {"capture", "CapturedEvent", "isolated"}

RELAY_CONTRACT = {"Relay", "Consumer"}  # DESIGN.md, "eventweave.relay"


def test_top_level_exports_exactly_the_contract() -> None:
    assert set(eventweave.__all__) == CONTRACT | DOCUMENTED_ADDITIONS


def test_top_level_all_has_no_duplicates() -> None:
    assert len(eventweave.__all__) == len(set(eventweave.__all__))


@pytest.mark.parametrize("name", sorted(CONTRACT | DOCUMENTED_ADDITIONS))
def test_every_exported_name_is_importable(name: str) -> None:
    assert getattr(eventweave, name) is not None


def test_testing_exports_exactly_capture_its_record_and_isolated() -> None:
    assert set(eventweave.testing.__all__) == TESTING_CONTRACT
    for name in TESTING_CONTRACT:
        assert getattr(eventweave.testing, name) is not None


def test_relay_exports_exactly_relay_and_consumer() -> None:
    import eventweave.relay

    assert set(eventweave.relay.__all__) == RELAY_CONTRACT


def test_otel_integration_exports_trace_and_its_handle() -> None:
    otel = importlib.import_module("eventweave.contrib.otel")
    assert set(otel.__all__) == {"trace", "Tracing"}


def test_package_ships_py_typed() -> None:
    assert importlib.resources.files("eventweave").joinpath("py.typed").is_file()


def test_top_level_module_only_imports_and_declares() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    kinds = {type(node) for node in tree.body}
    assert kinds <= {ast.Expr, ast.Assign, ast.ImportFrom, ast.Import}


def _imports(path: Path) -> set[str]:
    """The eventweave modules ``path`` imports, as absolute names."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "eventweave"}


BELOW_ADVICE = (
    "eventweave.portal",
    "eventweave.vidispine",
    "eventweave.rest",
    "eventweave.plan",
    "eventweave._plan",
    "eventweave._cli",
    "eventweave.contrib",
    "eventweave.testing",
)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("_signals.py", ("eventweave._weaving", "eventweave._advice", *BELOW_ADVICE)),
        ("_weaving", ("eventweave._advice", *BELOW_ADVICE)),
        ("_advice.py", BELOW_ADVICE),
    ],
)
def test_layers_import_only_the_layers_above_them(layer: str, forbidden: tuple[str, ...]) -> None:
    path = PACKAGE / layer
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    for file in files:
        for name in _imports(file):
            assert not name.startswith(forbidden), f"{file.name} imports {name}"


def test_advice_is_importable_on_its_own() -> None:
    module = importlib.import_module("eventweave._advice")
    assert set(module.__all__) >= {"Emit", "emits", "mark", "muted", "silent", "trigger_instead"}


def test_importing_the_package_pulls_in_no_optional_dependency() -> None:
    # (asgiref is used when present, for Django-compatible async bridging)
    optional = ["django", "pyramid", "blinker", "pytest", "webob", "rest_framework"]
    code = (
        "import sys, eventweave, eventweave.testing\n"
        f"print(sorted(n for n in {optional!r} if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
