"""The layers of DESIGN.md: each imports only the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import eventweave

PACKAGE = Path(eventweave.__file__).parent

# DESIGN.md, "Layers": signals, weaving, advice, domains, plan + CLI, contrib, testing.
RANK = {
    "_signals": 0,
    "_reads": 0,  # what a receiver can read: part of the signal core
    "_version": 0,
    "_weaving": 1,
    "_advice": 2,
    "_foreign": 2,  # how a listening form sends on Django's and blinker's signals
    "eventweave": 2,  # the front door re-exports the three above
    "portal": 3,
    "vidispine": 3,
    "rest": 3,
    "plan": 4,
    "_cli": 4,
    "_bootstrap": 4,
    "_environment": 4,
    "_boot": 4,
    "__main__": 4,
    "_demo": 4,
    # DESIGN.md lists the relay after plan + CLI, but they build on it (the
    # `consume` command, the plan's [relay] section) and it needs nothing of theirs.
    "relay": 3.5,
    # Listening to any signal or REST event class: the relay, plans, capture and
    # OpenTelemetry all do it through this one module, which needs only the domains.
    "_listen": 3.5,
    "contrib": 5,
    "testing": 6,
}
DOMAINS = {"portal", "vidispine", "rest"}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports() -> list[tuple[str, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    targets = [".".join([*base, node.module] if node.module else base)]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            found += [(module, t) for t in targets if t.split(".")[0] == "eventweave"]
    return found


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {unit(module) for module, _ in imports()} | {unit(t) for _, t in imports()}
    assert units <= set(RANK), f"place these in RANK: {sorted(units - set(RANK))}"


@pytest.mark.parametrize(("module", "target"), imports())
def test_imports_go_only_to_layers_above(module: str, target: str) -> None:
    mine, theirs = unit(module), unit(target)
    if mine == theirs:
        return
    assert RANK[theirs] <= RANK[mine], f"{module} (layer {mine}) imports {target} (below it)"
    assert not (mine in DOMAINS and theirs in DOMAINS), f"domain {module} imports domain {target}"
