"""The CLI's progress bar: a rich bar on stderr, only on a terminal and only for slow work."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from smcheck.chunkflow import ProgressEvent

SHOW_AFTER_S = 0.5
"""The bar appears only once an analysis has run this long and is not finished."""


class RowsProgress:
    """A callable for ``analyze(..., progress=...)`` that draws rows done and rows/s.

    Use as a context manager; nothing is drawn when ``enabled`` is false (no terminal, or
    ``--no-progress``) or when a source finishes within :data:`SHOW_AFTER_S`.
    """

    def __init__(self, enabled: bool, console: Any = None) -> None:
        self.enabled = enabled
        self._console = console
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> RowsProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        # the first event comes after the first chunk: time the source from the first event on,
        # counting that chunk's rows
        t0 = self._started.setdefault(ev.source, now)
        if self._progress is None:
            if ev.rows_done >= ev.rows_total or now - t0 < SHOW_AFTER_S:
                return
            self._start()
        if ev.source not in self._tasks:
            self._tasks[ev.source] = self._progress.add_task(ev.source, total=ev.rows_total)
        self._progress.update(self._tasks[ev.source], completed=ev.rows_done)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RowsPerSecond(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} rows/s" if speed else "? rows/s", style="cyan")

        console = self._console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            RowsPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._progress.start()
