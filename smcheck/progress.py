"""Progress bars on stderr for long analyses (rich, only when stderr is a terminal)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

ProgressFn = Callable[[str, int, int], None]
"""``progress(task, done, total)``: called by the library as work advances."""


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[ProgressFn | None]:
    """A ``progress(task, done, total)`` callback drawing one transient bar per task, or None."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bars = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=done, total=total)

    with bars:
        yield update
