"""Live capture: every softmax a PyTorch model runs, analysed where and in the format it ran.

``smcheck.capture()`` records each softmax-family call at its call site, ``Capture.analyze()``
judges each site, ``smcheck.assert_stable()`` is the assertion for users' own tests, and the
``smcheck_capture`` pytest fixture fails a test whose captured sites violate the policy.
Nothing heavy is imported here: pytest loads the plugin module of this package at start-up.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["Capture", "assert_stable", "capture"]


def capture(*args: Any, **kwargs: Any) -> Any:
    """See :func:`smcheck.capture.session.capture` (imported on first use)."""
    from smcheck.capture.session import capture as start

    return start(*args, **kwargs)


def assert_stable(x: Any, **options: Any) -> Any:
    """See :func:`smcheck.capture.assertions.assert_stable`."""
    from smcheck.capture.assertions import assert_stable as check

    return check(x, **options)


def __getattr__(name: str) -> Any:
    if name == "Capture":
        from smcheck.capture.session import Capture

        return Capture
    raise AttributeError(f"module 'smcheck.capture' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Importing this package binds ``smcheck.capture`` to the package itself, which would hide
    the function of that name; calling the package calls the function instead."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return capture(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
