"""Tests for `eventweave._version`: the version and the distribution it comes from."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import eventweave
from eventweave import _version

REPO = Path(eventweave.__file__).resolve().parent.parent


def pyproject_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version = "([^"]+)"', text, re.MULTILINE)
    assert found, "pyproject.toml declares no version"
    return found.group(1)


def test_version_is_the_installed_distributions() -> None:
    assert eventweave.__version__ == metadata.version(_version.DISTRIBUTION)


def test_installed_version_is_the_one_pyproject_declares() -> None:
    assert eventweave.__version__ == pyproject_version()


def test_distribution_is_not_named_like_the_unrelated_index_project() -> None:
    assert metadata.metadata(_version.DISTRIBUTION)["Name"] == "eventweave-aop"
    assert _version.DISTRIBUTION != "eventweave"


def test_source_tree_without_metadata_reads_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert _version._version() == f"{pyproject_version()}+source"


def test_no_metadata_and_no_pyproject_gives_an_unknown_local_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    monkeypatch.setattr(_version, "__file__", str(tmp_path / "eventweave" / "_version.py"))
    assert _version._version() == "0+unknown"


def test_tomli_is_a_dependency_below_python_3_11_only() -> None:
    requires = [Requirement(r) for r in metadata.requires(_version.DISTRIBUTION) or []]
    (tomli,) = [r for r in requires if r.name == "tomli"]
    assert str(tomli.specifier) == ">=1.1"
    assert tomli.marker is not None
    assert tomli.marker.evaluate({"python_version": "3.10"})
    assert not tomli.marker.evaluate({"python_version": "3.11"})


def test_runtime_dependencies_are_wrapt_requests_and_tomli() -> None:
    requires = [Requirement(r) for r in metadata.requires(_version.DISTRIBUTION) or []]
    runtime = {r.name for r in requires if r.marker is None or "extra" not in str(r.marker)}
    assert runtime == {"wrapt", "requests", "tomli"}


def test_distribution_is_mit_licensed_and_ships_the_license_text() -> None:
    meta = metadata.metadata(_version.DISTRIBUTION)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "The eventweave authors" in text
