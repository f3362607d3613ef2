"""Stages of long work: one line per stage in logs, bars with counts and an ETA on terminals,
and the evaluators report theirs."""

from __future__ import annotations

import io
import re

from rich.console import Console

from genforge.core.progress import LineStages, RichStages, Stages


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=120, color_system=None), buf


def test_logs_get_one_line_per_stage_with_its_count_and_the_time_so_far():
    c, buf = console(terminal=False)
    with Stages.for_console(c, title="eval run") as st:
        assert isinstance(st, LineStages)
        st.stage("sampling", total=1000)
        st.callback()(600, 1000)
        st.callback()(1000, 1000)
        st.stage("a stage whose name is longer than the console is wide " * 3)
    lines = buf.getvalue().splitlines()
    assert re.fullmatch(r"eval run \[ +\d+\.\d s\] 1\. sampling \(1,000\)", lines[0])
    assert re.fullmatch(r"eval run \[ +\d+\.\d s\] 2\. a stage whose .* wide ", lines[1])
    assert re.fullmatch(r"eval run \[ +\d+\.\d s\] done", lines[2]) and len(lines) == 3
    assert st.history[0] == ("sampling", 1000) and st.done == 0


def test_terminals_get_a_bar_per_stage_that_ends_complete():
    c, buf = console(terminal=True)
    with Stages.for_console(c) as st:
        assert isinstance(st, RichStages)
        st.stage("feature space")
        report = st.callback()
        for step in range(1, 41):
            report(step, 40)  # the total arrives with the first report
        st.stage("sampling", total=8)
        st.advance(3)
    tasks = st.bar.tasks
    assert [t.description for t in tasks] == ["feature space", "sampling"]
    assert (tasks[0].completed, tasks[0].total) == (40, 40)
    assert (tasks[1].completed, tasks[1].total) == (8, 8)  # completed on exit
    assert "eta" in buf.getvalue()


def test_off_is_silent_and_still_counts():
    st = Stages.off()
    st.stage("x", total=3)
    st.advance(2)
    assert st.done == 2 and st.history == [("x", 3)]
