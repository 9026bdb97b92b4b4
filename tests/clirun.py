"""Running the CLI in tests and asserting how it failed: exit code, one ``Error:`` line."""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from smcheck.cli import cli
from smcheck.errors import ExitCode
from tests.conftest import ROOT


def invoke(*args: str, input: bytes | None = None) -> Result:
    """``smcheck ARGS`` in process (stdin is the runner's stream, not a file)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=True)


def one_error_line(r: Result, *fragments: str, code: int = ExitCode.ERROR) -> str:
    """Exit ``code``, nothing escaped, and stderr is exactly one ``Error: ...`` line."""
    assert r.exit_code == code, (r.exit_code, r.output, r.exc_info)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def run_process(args: list[str], shell_redirect: str = "", **kwargs: object) -> tuple[int, str]:
    """``python -m smcheck ARGS REDIRECT`` in a real process: (exit code, stderr).

    ``shell_redirect`` is appended for ``sh``, e.g. ``"<&-"`` (closed stdin) or ``"< x.npy"``.
    """
    argv = shlex.join([sys.executable, "-m", "smcheck", *args])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["sh", "-c", f"exec {argv} {shell_redirect}"],
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )
    return proc.returncode, proc.stderr.decode()


def state(directory: Path) -> dict[str, tuple[object, ...]]:
    """Each entry of ``directory``: kind, inode, permission bits and, for files, a SHA-256.

    Two states are equal only if no file was written, replaced, created or removed there.
    """
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(directory.iterdir()):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[p.name] = (stat.S_IFMT(st.st_mode), st.st_ino, stat.S_IMODE(st.st_mode), digest)
    return out
