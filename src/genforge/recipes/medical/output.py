"""(5) The augmented folder: the real training images and the marked synthetic ones per class,
registered in the provenance store, listed in manifest.csv."""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from genforge.core.images import to_uint8
from genforge.core.io import write_bytes, write_text
from genforge.recipes.medical.audit import Synthetic
from genforge.recipes.medical.config import RECIPE
from genforge.recipes.medical.data import Staged

MANIFEST_FIELDS = [
    "path",
    "class",
    "synthetic",
    "split",
    "source_run",
    "seed",
    "index",
    "mark",
    "output_id",
]


def _real_rows(out: Path, staged: Staged) -> list[dict[str, Any]]:
    """Copy the real training images into `out/<class>/real_*`; rows for them and for the
    held-out images (left in the staging folder)."""
    rows: list[dict[str, Any]] = []
    for path in staged.train_files:
        cls = path.parent.name
        dst = out / cls / f"real_{path.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        rows.append({"path": dst.relative_to(out).as_posix(), "class": cls, "synthetic": "no",
                     "split": "train", "source_run": "", "seed": "", "index": "", "mark": "",
                     "output_id": ""})  # fmt: skip
    for path in staged.test_files:
        rows.append({"path": path.relative_to(out).as_posix(), "class": path.parent.name,
                     "synthetic": "no", "split": "heldout", "source_run": "", "seed": "",
                     "index": "", "mark": "", "output_id": ""})  # fmt: skip
    return rows


def _synthetic_rows(out: Path, staged: Staged, syn: Synthetic, run: Any,
                    pipe_params: dict[str, Any],
                    runs_dir: str | None) -> tuple[list[dict[str, Any]], dict[str, int]]:  # fmt: skip
    """Write each synthetic image marked (name, PNG chunk, provenance record); its rows and
    how many files got each combination of marks."""
    from genforge.safety.marking import encode_png
    from genforge.safety.provenance import ProvenanceStore, default_db_path

    store = ProvenanceStore(default_db_path(runs_dir))
    rows: list[dict[str, Any]] = []
    records, marks = [], Counter()
    for k, (x, y, (seed, index)) in enumerate(
        zip(syn.images, syn.labels.tolist(), syn.seeds, strict=True)
    ):
        cls = staged.class_names[y]
        oid = store.new_id()
        params = {**pipe_params, "synthetic": True, "recipe": RECIPE, "run": run.name,
                  "label": cls, "seed": seed, "index": index}  # fmt: skip
        png = encode_png(to_uint8(x), params, oid)
        dst = out / cls / f"synthetic_{cls}_{k:05d}_{oid}.png"
        write_bytes(dst, png.content)
        # what finds this file again: its name, its PNG chunk, and the store by exact bytes,
        # watermark (>= 256 px) or perceptual hash (None for a flat image: nothing to hash)
        mark = "+".join(["filename", "png-metadata", "sha256"]
                        + ["watermark"] * png.watermarked + ["phash"] * (png.phash is not None))  # fmt: skip
        marks[mark] += 1
        records.append(store.record(oid, who=RECIPE, run=run.name, modality="image", params=params,
                                    content=png.content, phash_hex=png.phash,
                                    watermarked=png.watermarked, path=str(dst.resolve())))  # fmt: skip
        rows.append({"path": dst.relative_to(out).as_posix(), "class": cls, "synthetic": "yes",
                     "split": "train", "source_run": run.name, "seed": seed, "index": index,
                     "mark": mark, "output_id": oid})  # fmt: skip
    store.add_many(records)
    return rows, dict(marks)


def write_dataset(
    out: Path,
    staged: Staged,
    syn: Synthetic,
    run: Any,
    pipe_params: dict[str, Any],
    runs_dir: str | None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Copy the real training images, write the marked synthetic ones, register them in the
    provenance store (`genforge watermark detect` reads it) and return the manifest rows."""
    rows = _real_rows(out, staged)
    synthetic, marks = _synthetic_rows(out, staged, syn, run, pipe_params, runs_dir)
    rows += synthetic
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "manifest.csv", buf.getvalue())
    return rows, marks
