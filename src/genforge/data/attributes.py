"""Per-image categorical attributes from an `attributes.csv` (multi-label conditioning).

The CSV has a `filename` column (a path relative to the image folder, or a bare file name when
that is unique in the folder) and one column per attribute, each categorical:

    filename,hair,eyes,smile
    sprite-00000.png,red,round,yes

Values are taken as written (whitespace stripped); each attribute's values are sorted, so the
same CSV always gives the same codes. Images without a row, rows without an image and rows with
an empty cell are reported, never dropped silently; a CSV that does not fit at all is a one-line
error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genforge.core.errors import GenforgeError

FILENAME_COLUMN = "filename"
MAX_VALUES = 64  # more distinct values than this is not a categorical attribute


@dataclass
class AttributeTable:
    """Attribute codes of a list of images, with the names and values the codes stand for."""

    names: list[str]  # attribute names, in CSV column order
    values: list[list[str]]  # values[a] = sorted values of attribute a; code k = values[a][k]
    codes: torch.Tensor  # (N, A) int64
    missing: list[str] = field(default_factory=list)  # images with no (complete) row
    unmatched: list[str] = field(default_factory=list)  # CSV rows naming no image

    def as_dict(self) -> dict[str, list[str]]:
        return dict(zip(self.names, self.values, strict=True))

    def counts(self) -> dict[str, dict[str, int]]:
        """attribute -> value -> images with it."""
        out = {}
        for a, (name, vals) in enumerate(zip(self.names, self.values, strict=True)):
            c = torch.bincount(self.codes[:, a], minlength=len(vals)).tolist()
            out[name] = dict(zip(vals, c, strict=True))
        return out


def read_attributes_csv(path: str | Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Parse the CSV into (attribute names, filename -> {attribute: value}).

    Raises:
        GenforgeError: missing/unreadable file, no `filename` column, no attribute column,
            no rows, or a filename listed twice.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise GenforgeError(f"no attributes file {path}; give a CSV with a filename column")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise GenforgeError(f"cannot read {path} as CSV: {e}") from None
    if FILENAME_COLUMN not in header:
        raise GenforgeError(
            f"{path.name} has no '{FILENAME_COLUMN}' column (columns: {', '.join(header) or 'none'}); "
            f"the first row must be e.g. {FILENAME_COLUMN},hair,eyes"
        )
    names = [h for h in header if h != FILENAME_COLUMN]
    if not names:
        raise GenforgeError(f"{path.name} has no attribute column besides '{FILENAME_COLUMN}'")
    if len(set(names)) != len(names):
        raise GenforgeError(f"{path.name} repeats a column name: {', '.join(names)}")
    if not rows:
        raise GenforgeError(f"{path.name} has a header but no rows")
    table: dict[str, dict[str, str]] = {}
    for i, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        fname = row.get(FILENAME_COLUMN, "")
        if not fname:
            raise GenforgeError(f"{path.name} line {i}: empty filename")
        if fname in table:
            raise GenforgeError(f"{path.name} line {i}: {fname} is listed twice")
        table[fname] = {a: row.get(a, "") for a in names}
    return names, table


def match_attributes(path: str | Path, files: list[str], root: str | Path) -> AttributeTable:
    """Attribute codes for `files` (paths under `root`) from the CSV at `path`.

    Files without a complete row get code -1 in every column and are listed in `missing`
    (the caller drops them); rows naming no file are listed in `unmatched`.

    Raises:
        GenforgeError: the CSV cannot be parsed, matches none of the images, or has an
            attribute with too many values to be categorical.
    """
    names, table = read_attributes_csv(path)
    root = Path(root).expanduser().resolve()
    rel = [Path(f).resolve().relative_to(root).as_posix() for f in files]
    by_base: dict[str, list[int]] = {}
    for i, r in enumerate(rel):
        by_base.setdefault(Path(r).name, []).append(i)
    row_of: dict[int, dict[str, str]] = {}
    unmatched: list[str] = []
    index_of = {r: i for i, r in enumerate(rel)}
    for fname, attrs in table.items():
        key = fname.replace("\\", "/").removeprefix("./")
        if key in index_of:
            row_of[index_of[key]] = attrs
        elif len(by_base.get(key, [])) == 1:
            row_of[by_base[key][0]] = attrs
        else:
            unmatched.append(fname)
    complete = {i: a for i, a in row_of.items() if all(a[n] for n in names)}
    if not complete:
        raise GenforgeError(
            f"{Path(path).name} matches none of the {len(files)} images in {root} "
            f"(e.g. CSV row {next(iter(table))!r}, image {rel[0]!r}); filenames must be relative "
            "to the image folder"
        )
    values = [sorted({a[n] for a in complete.values()}) for n in names]
    for n, v in zip(names, values, strict=True):
        if len(v) > MAX_VALUES:
            raise GenforgeError(
                f"attribute '{n}' has {len(v)} distinct values; attributes must be categorical "
                f"(at most {MAX_VALUES} values)"
            )
    codes = torch.full((len(files), len(names)), -1, dtype=torch.long)
    for i, a in complete.items():
        codes[i] = torch.tensor([v.index(a[n]) for n, v in zip(names, values, strict=True)])
    missing = [rel[i] for i in range(len(files)) if i not in complete]
    return AttributeTable(names, values, codes, missing, sorted(unmatched))


def parse_condition(
    attributes: dict[str, list[str]], wanted: dict[str, str], what: str = "run"
) -> dict[str, int]:
    """{attribute: value} -> {attribute: code}, with one-line errors listing the valid ones."""
    out = {}
    for name, value in wanted.items():
        if name not in attributes:
            raise GenforgeError(
                f"unknown attribute '{name}'; this {what} has: {', '.join(attributes)}"
            )
        if value not in attributes[name]:
            raise GenforgeError(
                f"unknown value {value!r} for attribute '{name}'; valid: "
                f"{', '.join(attributes[name])}"
            )
        out[name] = attributes[name].index(value)
    return out
