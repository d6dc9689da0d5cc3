"""The relay's optional dependency is imported only when a Relay or Consumer is made."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint('redis' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_importing_the_relay_does_not_import_redis() -> None:
    assert _modules_after("import eventweave.relay, eventweave._cli") == "False"


def test_the_command_line_help_does_not_import_redis() -> None:
    code = "from eventweave._cli import _parser\n_parser().format_help()"
    assert _modules_after(code) == "False"


def test_without_redis_py_a_relay_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if not installed\n"
        "from eventweave.relay import Relay\n"
        "try:\n"
        "    Relay()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'redis>=5'" in done.stdout
