"""attributes.csv: parsing, matching to image files, what is reported, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genforge.core.errors import GenforgeError
from genforge.data import load_images
from genforge.data.attributes import match_attributes, parse_condition, read_attributes_csv


def _folder(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "chars"
    for i, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        arr = np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)  # distinct
        Image.fromarray(arr).save(root / name)
    return root


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_rows_match_files_values_are_sorted_and_gaps_are_reported(tmp_path):
    root = _folder(tmp_path, ["x/a.png", "x/b.png", "y/c.png", "y/d.png"])  # classes x, y
    csv_path = _csv(tmp_path / "attrs.csv",
                    "filename,hair,smile\n"
                    "x/a.png,red,yes\n"
                    "./x/b.png, blue ,no\n"
                    "c.png,red,no\n"          # bare name, unique in the folder
                    "d.png,,yes\n"            # empty cell: d is skipped
                    "ghost.png,red,yes\n")  # fmt: skip
    ds = load_images(str(root), 8, attributes=str(csv_path))
    assert ds.attribute_values == {"hair": ["blue", "red"], "smile": ["no", "yes"]}
    assert len(ds) == 3 and ds.attributes.tolist() == [[1, 1], [0, 0], [1, 0]]
    assert [Path(f).name for f in ds.files] == ["a.png", "b.png", "c.png"]
    assert ds.labels.tolist() == [0, 0, 1]  # class labels and attributes side by side
    assert ("y/d.png", "no complete row in attrs.csv") in [
        (s.path, s.reason) for s in ds.report.skipped
    ]
    assert ds.report.attributes_unmatched == ["ghost.png"]
    assert ds.report.attributes == {"hair": {"blue": 1, "red": 2}, "smile": {"no": 2, "yes": 1}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,hair\na.png,red\n", "has no 'filename' column (columns: file, hair)"),
        ("filename\na.png\n", "has no attribute column"),
        ("filename,hair\n", "has a header but no rows"),
        ("filename,hair\na.png,red\na.png,blue\n", "a.png is listed twice"),
        ("filename,hair\nzzz.png,red\n", "matches none of the 2 images"),
        ("filename,hair\n,red\n", "empty filename"),
    ],
)
def test_a_csv_that_does_not_fit_is_a_one_line_error(tmp_path, text, message):
    root = _folder(tmp_path, ["a.png", "b.png"])
    csv_path = _csv(tmp_path / "attrs.csv", text)
    with pytest.raises(GenforgeError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_images(str(root), 8, attributes=str(csv_path))
    assert "\n" not in str(e.value)


def test_missing_csv_and_too_many_values(tmp_path):
    root = _folder(tmp_path, [f"{i}.png" for i in range(70)])
    with pytest.raises(GenforgeError, match="no attributes file"):
        read_attributes_csv(tmp_path / "nope.csv")
    rows = "".join(f"{i}.png,v{i}\n" for i in range(70))
    csv_path = _csv(tmp_path / "attrs.csv", "filename,id\n" + rows)
    files = [str(root / f"{i}.png") for i in range(70)]
    with pytest.raises(GenforgeError, match="attribute 'id' has 70 distinct values"):
        match_attributes(csv_path, files, root)


def test_embedded_sets_refuse_an_attributes_csv(tmp_path):
    with pytest.raises(GenforgeError, match="--attributes is for image folders"):
        load_images("digits", attributes=str(tmp_path / "a.csv"))


def test_parse_condition_lists_the_valid_names_and_values():
    values = {"hair": ["red", "blue"], "smile": ["yes", "no"]}
    assert parse_condition(values, {"hair": "blue", "smile": "yes"}) == {"hair": 1, "smile": 0}
    with pytest.raises(GenforgeError, match="unknown attribute 'hat'; this run has: hair, smile"):
        parse_condition(values, {"hat": "x"})
    with pytest.raises(
        GenforgeError, match="unknown value 'green' for attribute 'hair'; valid: red, blue"
    ):
        parse_condition(values, {"hair": "green"})
