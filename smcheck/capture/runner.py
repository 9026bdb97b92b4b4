"""Running a user's script or module under capture, for ``smcheck capture``."""

from __future__ import annotations

import contextlib
import runpy
import sys
import traceback
from typing import Any

from smcheck.capture.session import Capture, NothingCapturedError
from smcheck.errors import ConfigError, SmcheckError


class ScriptError(SmcheckError):
    """The captured script failed: its traceback has been printed on stderr."""


def run_script(
    script: str,
    args: list[str],
    as_module: bool,
    max_rows_per_site: int,
    seed: int,
    stdout_to_stderr: bool = False,
) -> Capture:
    """Run ``script`` (a path, or a module name with ``as_module``) as ``__main__`` with ``args``;
    ``stdout_to_stderr``: ``sys.stdout`` is ``sys.stderr`` while it runs (restored after), so its
    ``print`` and ``sys.stdout.write`` stay out of a report written to standard output.

    Raises:
        ConfigError: no such script.
        ScriptError: the script raised or exited with a non-zero status.
        NothingCapturedError: it ran, but no softmax call was captured.
    """
    import os

    if not as_module and os.path.isdir(script):
        raise ConfigError(f"'{script}' is a directory; give a .py file, or -m MODULE")
    if not as_module and not os.path.isfile(script):
        raise ConfigError(f"no such script '{script}'; give a .py file, or -m MODULE")
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    # as python does: a script's folder first on the path, or for -m the working directory
    sys.path.insert(0, os.getcwd() if as_module else os.path.dirname(os.path.abspath(script)))
    try:
        if as_module and not _module_exists(script):
            raise ConfigError(f"no module named '{script}'; check the name (it must be importable)")
        cap = Capture(max_rows_per_site, seed)
    except BaseException:
        sys.path[:] = saved_path
        raise
    sys.argv = [script, *args]
    stdout: contextlib.AbstractContextManager[Any] = (
        contextlib.redirect_stdout(sys.stderr) if stdout_to_stderr else contextlib.nullcontext()
    )
    try:
        with cap, stdout:
            if as_module:
                runpy.run_module(script, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            how = f"status {e.code}" if isinstance(e.code, int) else f"the message {e.code!r}"
            raise ScriptError(f"'{script}' exited with {how}; nothing was analysed") from None
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        raise ScriptError(
            f"'{script}' raised {type(e).__name__}: {e}; fix the script (traceback above)"
        ) from None
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    why = cap.why_empty("run the model on the main thread, outside torch.compile")
    if why is not None:
        raise NothingCapturedError(
            f"'{script}' ran no softmax call that smcheck captures, so nothing was checked: {why}"
        )
    return cap


def _module_exists(name: str) -> bool:
    """Whether ``-m name``'s top-level package is on the path: looked up, not imported (a
    package's own code runs under the capture, and its errors reach the user as they are)."""
    import importlib.util

    top = name.partition(".")[0]
    try:
        return bool(top) and importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False
