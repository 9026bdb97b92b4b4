"""The pytest plugin (entry point ``pytest11``): the ``smcheck_capture`` fixture.

A test that takes the fixture runs under ``smcheck.capture()``; when its body has passed, the
capture stops and every captured site is analysed as ``[tool.smcheck]`` in the nearest
pyproject.toml says: a violation of its ``fail-on`` conditions fails the test with the findings,
and so does a body that ran no softmax call capture records (nothing was checked).
Nothing is imported until a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def smcheck_capture() -> Iterator[Any]:
    """A running ``smcheck.capture()``; the test fails if a captured site violates the policy, or
    if no softmax call was captured."""
    from smcheck.capture.session import Capture

    with Capture() as cap:
        yield cap


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body, judge its capture (a failure of the test, not an error)."""
    result = yield
    cap = getattr(item, "funcargs", {}).get("smcheck_capture")
    if cap is not None:
        from pathlib import Path

        from smcheck.capture.assertions import check_captured

        cap.__exit__(None, None, None)  # the analysis must not capture itself
        why = cap.why_empty("run the model in the test's own thread, or drop the fixture")
        if why is not None:  # a pass would claim a check that never ran
            pytest.fail(
                f"smcheck: the test ran no softmax call that smcheck_capture records, so nothing "
                f"was checked: {why}",
                pytrace=False,
            )
        found = check_captured(cap, Path(str(item.config.rootpath)))
        if found:
            pytest.fail(  # the findings say it all: no traceback into this hook
                "smcheck: captured softmax sites violate the policy:\n  " + "\n  ".join(found),
                pytrace=False,
            )
    return result
