"""The pytest plugin (entry point ``pytest11``): the ``smcheck_capture`` fixture.

A test that takes the fixture runs under ``smcheck.capture()``; after it, every captured site is
analysed as ``[tool.smcheck]`` in the nearest pyproject.toml says, and a violation of its
``fail-on`` conditions fails the test with the findings. Nothing is imported until a test asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def smcheck_capture(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running ``smcheck.capture()``; the test fails if a captured site violates the policy."""
    from pathlib import Path

    from smcheck.capture.assertions import check_captured
    from smcheck.capture.session import Capture

    cap = Capture()
    with cap:
        yield cap
    found = check_captured(cap, Path(str(request.config.rootpath)))
    if found:
        pytest.fail("smcheck: captured softmax sites violate the policy:\n  " + "\n  ".join(found))
