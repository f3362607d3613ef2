"""Characters from an attrgan run: opening the run, generating with asked attributes, the
sprite sheet (PNG + JSON/CSV index) and the single-attribute editing grid."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genforge.core.errors import GenforgeError
from genforge.core.images import save_png, to_uint8
from genforge.core.io import write_json, write_text
from genforge.core.run import Run, list_runs, resolve_run, runs_root


def open_character_run(run: str | Path | Run | None, runs_dir: str | Path | None = None,
                       device: str = "auto") -> Any:  # fmt: skip
    """An ImagePipeline of an attrgan run: `run` by name/path, or the newest attrgan run."""
    from genforge.generate.pipeline import ImagePipeline

    if run is None:
        found = [r for r in list_runs(runs_dir) if _is_attr_run(r)]
        if not found:
            raise GenforgeError(
                f"no trained attrgan run in {runs_root(runs_dir)}; train one with "
                "genforge recipe characters --demo, or pass --model RUN"
            )
        run = max(found, key=lambda r: (r.config_path.stat().st_mtime, r.name))
    run = run if isinstance(run, Run) else resolve_run(run, runs_dir)
    if not _is_attr_run(run):
        model = run.read_config().get("model")
        raise GenforgeError(
            f"run '{run.name}' is a {model} run without attributes; characters need an attrgan "
            "run (genforge recipe characters ...)"
        )
    return ImagePipeline(run, device=device)


def _is_attr_run(run: Run) -> bool:
    try:
        cfg = run.read_config()
    except Exception:  # a half-written run folder is not a candidate
        return False
    return cfg.get("model") == "attrgan" and run.read_meta() is not None


def describe(codes: torch.Tensor, values: dict[str, list[str]]) -> list[dict[str, str]]:
    names = list(values)
    return [{n: values[n][int(k)] for n, k in zip(names, row, strict=True)} for row in codes]


def write_sprite_sheet(images: torch.Tensor, attrs: list[dict[str, str]], path: Path,
                       columns: int = 8, params: dict | None = None,
                       extra: list[dict[str, Any]] | None = None) -> list[Path]:  # fmt: skip
    """A sprite sheet PNG (cells edge to edge, no padding, row-major) plus `<stem>.json` and
    `<stem>.csv` giving each cell's position and attributes. Returns the three paths."""
    n, c, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    sheet = np.zeros((rows * h, columns * w, c), dtype=np.uint8)
    cells = []
    for i in range(n):
        r, col = divmod(i, columns)
        sheet[r * h : (r + 1) * h, col * w : (col + 1) * w] = to_uint8(images[i])
        cell = {"index": i, "row": r, "col": col, "x": col * w, "y": r * h, "w": w, "h": h,
                "attributes": attrs[i], **((extra or [{}] * n)[i])}  # fmt: skip
        cells.append(cell)
    png = save_png(path, sheet, {**(params or {}), "kind": "sprite-sheet", "cells": n})
    index = {"image": path.name, "cell_width": w, "cell_height": h, "columns": columns,
             "rows": rows, "params": params or {}, "cells": cells}  # fmt: skip
    js = path.with_suffix(".json")
    write_json(js, index)
    names = list(attrs[0]) if attrs else []
    extra_keys = [k for k in (extra or [{}])[0]]
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(["index", "row", "col", "x", "y", "w", "h", *names, *extra_keys])
    for cell in cells:
        wr.writerow(
            [
                cell["index"],
                cell["row"],
                cell["col"],
                cell["x"],
                cell["y"],
                w,
                h,
                *(cell["attributes"][k] for k in names),
                *(cell[k] for k in extra_keys),
            ]
        )
    cs = path.with_suffix(".csv")
    write_text(cs, buf.getvalue())
    return [png, js, cs]


def generate_characters(
    pipe: Any, wanted: dict[str, str], n: int = 8, seed: int = 0, out_dir: str | Path | None = None
) -> tuple[list[Path], list[dict[str, str]]]:
    """`n` characters with the `wanted` attribute values (others random, fixed by the seed):
    one PNG each (generation parameters embedded) plus sheet.png/.json/.csv in `out_dir`
    (default: the run's samples/characters-s<seed>). `genforge generate character` takes its
    defaults from here."""
    if n < 1:
        raise GenforgeError(f"--n must be at least 1, got {n}")
    out_dir = pipe.run.samples_dir / f"characters-s{seed}" if out_dir is None else Path(out_dir)
    g = torch.Generator().manual_seed(seed)
    z = pipe.model.latent(n, generator=g)
    codes = pipe.attribute_codes(z, wanted)
    images = pipe.generate(z, codes)
    attrs = describe(codes, pipe.spec.attribute_values)
    base = {"run": pipe.run.name, "model": pipe.model_name, "step": pipe.step, "seed": seed,
            "asked": json.dumps(wanted, sort_keys=True)}  # fmt: skip
    paths = []
    for i in range(n):
        p = out_dir / f"character-s{seed}-{i:03d}.png"
        params = {**base, "index": i, "kind": "character", "attributes": json.dumps(attrs[i])}
        paths.append(save_png(p, to_uint8(images[i]), params))
    paths += write_sprite_sheet(images, attrs, out_dir / "sheet.png", params=base,
                                extra=[{"file": p.name} for p in paths])  # fmt: skip
    return paths, attrs


def _font() -> Any:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def editing_grid(pipe: Any, seed: int, scale: int = 2) -> tuple[np.ndarray, dict[str, Any]]:
    """One row per attribute: the same noise and base attributes, that one attribute set to each
    of its values in turn (the base value framed). Returns (uint8 picture, what each cell is)."""
    values = pipe.spec.attribute_values
    names = list(values)
    g = torch.Generator().manual_seed(seed)
    z = pipe.model.latent(1, generator=g)
    base = pipe.model.random_codes(z).cpu()[0]  # (A,)
    rows_codes, layout = [], []
    for a, name in enumerate(names):
        for k in range(len(values[name])):
            c = base.clone()
            c[a] = k
            rows_codes.append(c)
            layout.append((a, k))
    codes = torch.stack(rows_codes)
    images = pipe.generate(z.expand(len(codes), -1).contiguous(), codes)
    size = pipe.spec.size * scale
    label_w, cap_h, pad = 80, 14, 4
    cols = max(len(v) for v in values.values())
    W = label_w + cols * (size + pad) + pad
    H = len(names) * (size + cap_h + pad) + pad
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for (a, k), img in zip(layout, images, strict=True):
        x = label_w + pad + k * (size + pad)
        y = pad + a * (size + cap_h + pad)
        tile = Image.fromarray(to_uint8(img)).resize((size, size), Image.Resampling.NEAREST)
        if tile.mode != "RGB":
            tile = tile.convert("RGB")
        canvas.paste(tile, (x, y))
        if k == int(base[a]):
            draw.rectangle(
                (x - 2, y - 2, x + size + 1, y + size + 1), outline=(220, 30, 30), width=2
            )
        draw.text((x, y + size + 1), values[names[a]][k], fill=(40, 40, 40), font=font)
        if k == 0:
            draw.text((4, y + size // 2 - 6), names[a], fill=(0, 0, 0), font=font)
    info = {"seed": seed, "base": describe(base[None], values)[0],
            "cells": [{"attribute": names[a], "value": values[names[a]][k]} for a, k in layout]}  # fmt: skip
    rows = [a for a, _ in layout]
    return np.asarray(canvas), {**info, "images": images, "codes": codes, "rows": rows}
