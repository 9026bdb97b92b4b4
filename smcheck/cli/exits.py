"""How a run ends when a command does not return: unexpected errors, Ctrl-C, a closed pipe.

Exit codes a CI can trust: 1 means findings and nothing else, so an unexpected exception
(a bug) is one line and exit 3, never a traceback with exit 1; ``--debug`` re-raises it.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from typing import Any

import click

from smcheck.cli.options import user_errors
from smcheck.errors import ExitCode


class SmcheckGroup(click.Group):
    """The ``smcheck`` group: every command runs under :meth:`invoke`'s last-resort handlers."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            with warnings.catch_warnings():
                if not debug:  # stderr holds Error lines and summaries, not library chatter
                    warnings.simplefilter("ignore")
                with user_errors():
                    return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (| head): stop quietly. Point stdout at devnull so that the
            # interpreter's final flush does not fail again (the Python docs' recipe, SIGPIPE).
            _silence_stdout()
            raise click.exceptions.Exit(ExitCode.BROKEN_PIPE) from None
        except OSError as e:
            if e.errno not in NO_ROOM:
                if debug:
                    raise
                raise internal_error(e) from None
            # a full disk under standard output (> file): the environment's problem, not a bug
            _silence_stdout()  # the interpreter's last flush would fail again
            exc = click.ClickException(
                f"cannot write the output: {e.strerror}; free some space, or write elsewhere"
            )
            exc.exit_code = ExitCode.ERROR
            raise exc from None
        except Exception as e:
            if debug:
                raise
            raise internal_error(e) from None


NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""Errors of a write that found no room: the disk, the quota, the file size limit."""


def internal_error(e: BaseException) -> click.ClickException:
    """``Error: internal error: TYPE: MESSAGE (rerun with --debug ...)``, exit code 3."""
    text = " ".join(str(e).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    exc = click.ClickException(
        f"internal error: {type(e).__name__}{': ' + text if text else ''} "
        "(rerun with --debug for the traceback)"
    )
    exc.exit_code = ExitCode.INTERNAL
    return exc


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real stdout (a test runner's buffer)
        pass
