"""DataReport serialisation, statistics and rendering (genforge/data/report.py)."""

from __future__ import annotations

import io
import json

from rich.console import Console

from genforge.data import DataReport, SkippedFile


def _report(**overrides) -> DataReport:
    fields = dict(
        source="data/pets",
        kind="image-folder",
        num_files=7,
        num_images=5,
        image_size=32,
        channels=3,
        original_sizes={"64x48": 3, "20x20": 1},
        original_modes={"RGB": 4, "L": 1},
        class_counts={"cats": 4, "dogs": 1},
        skipped=[SkippedFile("notes.txt", "unsupported extension .txt")],
        duplicates=[("cats/b.png", "cats/a.png")],
    )
    fields.update(overrides)
    return DataReport(**fields)


def test_round_trip_through_json() -> None:
    report = _report()
    again = DataReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert isinstance(again.skipped[0], SkippedFile)
    assert again.duplicates == [("cats/b.png", "cats/a.png")]


def test_imbalance_ratio() -> None:
    assert _report().imbalance_ratio() == 4.0
    assert _report(class_counts={}).imbalance_ratio() is None
    assert _report(class_counts={"a": 3, "b": 0}).imbalance_ratio() == float("inf")


def _render(report: DataReport) -> str:
    out = io.StringIO()
    report.render(Console(file=out, width=120))
    return out.getvalue()


def test_render_shows_classes_skipped_files_and_duplicates() -> None:
    text = _render(_report())
    expected = [
        "data/pets",
        "cats",
        "dogs",
        "80.0%",  # cats share
        "█",  # balance bar
        "notes.txt",
        "unsupported extension .txt",
        "cats/b.png",  # duplicate
        "imbalanced",  # 4:1 triggers the warning
        "other sizes",  # 5 images, only 4 listed sizes
    ]
    for piece in expected:
        assert piece in text, piece


def test_render_unlabeled_inspect_only_report() -> None:
    text = _render(_report(class_counts={}, skipped=[], duplicates=[], image_size=None))
    assert "unlabeled" in text and "inspect only" in text
    assert "Class balance" not in text and "Skipped" not in text


def test_render_lists_many_skipped_files_briefly() -> None:
    skipped = [SkippedFile(f"f{i}.txt", "unsupported extension .txt") for i in range(25)]
    assert "and 5 more" in _render(_report(skipped=skipped))
