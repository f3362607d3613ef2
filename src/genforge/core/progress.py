"""Progress for long work: named stages, each with a count and an ETA.

Library code reports through a `Stages` object it is handed (`Stages.off()` when the caller
wants silence) and never decides how it is shown:

    with Stages.for_console(console, title="eval digits-cgan") as st:
        st.stage("sampling", total=n)          # a new stage (a line in logs, a bar on a terminal)
        for batch in ...:
            st.advance(len(batch))
        st.stage("memorization audit")         # a stage without a count: a line, no bar

On a terminal every stage gets a rich progress bar (count, elapsed, ETA); elsewhere (CI logs,
pipes) each stage prints one line when it starts, so a long command never looks hung.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class Stages:
    """Stage-by-stage progress; the base class shows nothing (`Stages.off()`)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.total: int | None = None
        self.done = 0
        self.history: list[tuple[str, int | None]] = []  # (stage, total), in order

    # -- what library code calls -----------------------------------------------------------
    def stage(self, name: str, total: int | None = None) -> None:
        """Start stage `name` of `total` units (None: no count)."""
        self.name, self.total, self.done = name, total, 0
        self.history.append((name, total))
        self._started(name, total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._advanced(n)

    def callback(self) -> Callable[[int, int], None]:
        """A `progress(done, total)` function for code that counts steps itself."""

        def report(done: int, total: int) -> None:
            if self.total != total:
                self.total = total
                self._retotal(total)
            self.advance(done - self.done)

        return report

    # -- how it is shown ----------------------------------------------------------------------
    def _started(self, name: str, total: int | None) -> None:
        pass

    def _advanced(self, n: int) -> None:
        pass

    def _retotal(self, total: int) -> None:
        pass

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    @staticmethod
    def off() -> Stages:
        return Stages()

    @staticmethod
    def for_console(console: Any, title: str = "", live: bool | None = None) -> Stages:
        """Bars on an interactive terminal, one line per stage elsewhere (`live` overrides)."""
        live = console.is_terminal if live is None else live
        return RichStages(console, title) if live else LineStages(console, title)


class LineStages(Stages):
    """One line per stage, stamped with the time since the work began: for logs and pipes."""

    def __init__(self, console: Any, title: str = ""):
        super().__init__()
        self.console, self.title = console, title
        self._t0 = time.perf_counter()

    def _line(self, text: str) -> None:
        prefix = f"{self.title} " if self.title else ""
        elapsed = time.perf_counter() - self._t0
        self.console.print(f"{prefix}[{elapsed:6.1f} s] {text}", highlight=False, soft_wrap=True)

    def _started(self, name: str, total: int | None) -> None:
        count = f" ({total:,})" if total else ""
        self._line(f"{len(self.history)}. {name}{count}")

    def __exit__(self, *exc: Any) -> None:
        if self.history and exc[0] is None:
            self._line("done")


class RichStages(Stages):
    """A rich progress display: one bar per stage (description, bar, count, elapsed, ETA)."""

    def __init__(self, console: Any, title: str = ""):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        super().__init__()
        self.title = title
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: Any = None

    def _started(self, name: str, total: int | None) -> None:
        if self._task is not None:  # the previous stage is complete
            t = self.bar.tasks[-1]
            self.bar.update(self._task, completed=t.total if t.total is not None else t.completed)
        label = f"{self.title}: {name}" if self.title else name
        self._task = self.bar.add_task(label, total=total)

    def _advanced(self, n: int) -> None:
        if self._task is not None:
            self.bar.advance(self._task, n)

    def _retotal(self, total: int) -> None:
        if self._task is not None:
            self.bar.update(self._task, total=total)

    def __enter__(self) -> Stages:
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task is not None and exc[0] is None:
            t = self.bar.tasks[-1]
            self.bar.update(self._task, completed=t.total if t.total is not None else t.completed)
        self.bar.stop()
