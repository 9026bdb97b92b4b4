"""Progress bars on stderr for long analyses (rich, only when stderr is a terminal)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

ProgressFn = Callable[[str, int, int], None]
"""``progress(task, done, total)``: called by the library as work advances."""

SHOW_AFTER_S = 0.5
"""A bar appears only once its task has run this long unfinished: quick runs stay quiet."""


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[ProgressFn | None]:
    """A ``progress(task, done, total)`` callback drawing one transient bar per task, or None.

    Each bar shows done/total and the rate (rows/s for "analysing rows"); nothing is drawn
    for a task that finishes within :data:`SHOW_AFTER_S` of its first report.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            unit = task.fields.get("unit", "steps")
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"? {unit}/s", style="cyan")

    bars = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}
    first: dict[str, float] = {}
    started = False

    def update(task: str, done: int, total: int) -> None:
        nonlocal started
        now = time.monotonic()
        t0 = first.setdefault(task, now)
        if not started:
            if done >= total or now - t0 < SHOW_AFTER_S:
                return
            bars.start()
            started = True
        if task not in tasks:
            unit = "rows" if task == "analysing rows" else "steps"
            tasks[task] = bars.add_task(task, total=total, unit=unit)
        bars.update(tasks[task], completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            bars.stop()
