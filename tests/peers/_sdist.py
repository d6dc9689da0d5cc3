"""Other projects' own test suites, fetched from their sdists at test time and run here.

They are never copied into this repository: ``fetch`` downloads the sdist of
the exact version installed (``pip download --no-binary :all:``), unpacks
the files a suite needs into a cache folder, and ``run`` starts the suite in
a subprocess in which ``django.dispatch.Signal`` (and ``receiver``) *is*
``eventweave.Signal`` before any Django module imports it, so every signal
Django defines — the ORM's ``pre_save``/``post_save`` included — runs on
eventweave's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

CACHE = Path(
    os.environ.get("EVENTWEAVE_PEER_CACHE") or Path(tempfile.gettempdir()) / "eventweave-peers"
)

SUBSTITUTE = textwrap.dedent(
    """
    import atexit, runpy, sys

    import django.dispatch
    import django.dispatch.dispatcher

    import eventweave

    django.dispatch.Signal = django.dispatch.dispatcher.Signal = eventweave.Signal
    django.dispatch.receiver = django.dispatch.dispatcher.receiver = eventweave.receiver


    @atexit.register
    def report():
        signals = sys.modules.get("django.db.models.signals")
        if signals is not None:
            on_ours = isinstance(signals.post_save, eventweave.Signal)
            print(f"eventweave-peer: ORM signals on eventweave.Signal: {on_ours}", file=sys.stderr)


    mode, target, *rest = sys.argv[1:]
    sys.argv = [target, *rest]
    if mode == "script":
        sys.path.insert(0, __import__("os").path.dirname(target))
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    """
)


def fetch(project: str, version: str, members: list[str]) -> Path:
    """Unpack ``members`` (paths, folders) of ``project==version``'s sdist; return its root."""
    root = CACHE / f"{project}-{version}"
    done = root / ".eventweave-complete"
    if done.exists():
        return root
    downloads = CACHE / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(downloads),
            f"{project}=={version}",
        ],
        check=True,
        timeout=300,
    )
    prefix = project.lower().replace("-", "_")
    archive = next(
        path
        for path in downloads.iterdir()
        if path.name.lower().replace("-", "_").startswith(f"{prefix}_{version}")
        and path.name.endswith(".tar.gz")
    )
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        wanted = [
            m
            for m in tar.getmembers()
            if any(m.name == f"{top}/{p}" or m.name.startswith(f"{top}/{p}/") for p in members)
        ]
        for member in wanted:
            member.name = member.name[len(top) + 1 :]
            if hasattr(
                tarfile, "data_filter"
            ):  # every supported Python has it but 3.10.x < 3.10.12
                tar.extract(member, root, filter="data")
            else:
                tar.extract(member, root)
    done.write_text("")
    return root


def dependencies(name: str, requirements: list[str]) -> Path:
    """Install ``requirements`` into a cache folder of their own (not into the test environment)."""
    target = CACHE / f"deps-{name}"
    done = target / ".eventweave-complete"
    if not done.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                *requirements,
            ],
            check=True,
            timeout=600,
        )
        done.write_text("")
    return target


def run(
    mode: str, target: str, args: list[str], *, cwd: Path, path: list[Path], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a suite (``mode``: ``script`` or ``module``) with eventweave's Signal as Django's."""
    shim = CACHE / "substitute.py"
    CACHE.mkdir(parents=True, exist_ok=True)
    shim.write_text(SUBSTITUTE)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(p) for p in path),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(shim), mode, target, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
