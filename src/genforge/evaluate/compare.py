"""`genforge compare`: several runs side by side: their evaluations, curves and samples."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from genforge.core.io import write_text
from genforge.core.run import Run
from genforge.evaluate.report import Raw, html_table, png_img, render_page
from genforge.evaluate.result import Section


def _curves(runs: list[Run]) -> str:
    series = {r.name: r.metrics() for r in runs}
    keys = sorted(
        {
            k
            for recs in series.values()
            for rec in recs
            for k in rec
            if k.startswith(("loss", "eval_"))
        }
    )
    if not keys:
        return "<p>No training metrics were logged.</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        for name, recs in series.items():
            pts = [(r["step"], r[key]) for r in recs if key in r]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, linewidth=1.2)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return png_img(fig, "training curves")


def compare_runs(
    runs: list[Run], evaluations: dict[str, dict[str, Any]], out: Path = Path("compare.html")
) -> Path:
    """Write a side-by-side HTML page for `runs` given each run's metrics.json content."""
    labels: dict[str, str] = {}
    better: dict[str, str | None] = {}
    for ev in evaluations.values():
        for m in ev.get("metrics", []):
            labels.setdefault(m["key"], m["label"])
            better.setdefault(m["key"], m.get("better"))
    header = ["metric", *[r.name for r in runs]]
    rows = []
    for key, label in labels.items():
        values = [evaluations.get(r.name, {}).get("values", {}).get(key) for r in runs]
        nums = [v for v in values if isinstance(v, int | float)]
        best = None
        if nums and better.get(key) in ("lower", "higher") and len(nums) > 1:
            best = min(nums) if better[key] == "lower" else max(nums)
        cells: list[Any] = [label + {"lower": " ↓", "higher": " ↑"}.get(better.get(key) or "", "")]
        for v in values:
            if v is None:
                cells.append("—")
            elif best is not None and v == best:
                cells.append(Raw(f"<b>{html.escape(f'{v:.4g}')}</b>"))
            else:
                cells.append(float(v))
        rows.append(cells)
    info_rows = []
    for r in runs:
        cfg = r.read_config()
        ev = evaluations.get(r.name, {})
        info_rows.append(
            [r.name, cfg.get("model", "?"), str(cfg.get("data", {}).get("source", "?")), r.step,
             ev.get("feature_space", {}).get("label", "—"), ev.get("samples", "—")]
        )  # fmt: skip
    grids = []
    for r in runs:
        latest = r.samples_dir / "latest.png"
        img = png_img(latest.read_bytes(), r.name, width=320) if latest.exists() else "no samples"
        grids.append(f"<div class='pair'>{img}<br>{html.escape(r.name)}</div>")
    sections = [
        Section(
            "Runs",
            html_table(["run", "model", "data", "step", "feature space", "samples"], info_rows),
        ),
        Section(
            "Metrics",
            "<p>Best value in bold (↓ lower is better, ↑ higher is better). Compare feature-space "
            "metrics only between runs evaluated in the same feature space on the same data.</p>"
            + html_table(header, rows),
        ),
        Section("Training curves", _curves(runs)),
        Section("Latest samples", "".join(grids)),
    ]
    page = render_page("genforge compare", html.escape(" vs ".join(r.name for r in runs)), sections)
    write_text(out, page)
    return out
