"""Live capture: every softmax a PyTorch model runs, analysed where and in the format it ran.

``smcheck.capture()`` records each softmax-family call at its call site, ``Capture.analyze()``
judges each site, ``smcheck.assert_stable()`` is the assertion for users' own tests, and the
``smcheck_capture`` pytest fixture fails a test whose captured sites violate the policy.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from smcheck.capture.session import Capture, capture

__all__ = ["Capture", "assert_stable", "capture"]


def assert_stable(x: Any, **options: Any) -> Any:
    """See :func:`smcheck.capture.assertions.assert_stable` (imported on first use)."""
    from smcheck.capture.assertions import assert_stable as check

    return check(x, **options)


class _CallableModule(types.ModuleType):
    """Importing this package binds ``smcheck.capture`` to the package itself, which would hide
    the function of that name; calling the package calls the function instead."""

    def __call__(self, *args: Any, **kwargs: Any) -> Capture:
        return capture(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
