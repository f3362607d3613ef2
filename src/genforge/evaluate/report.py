"""Self-contained HTML reports: every picture is an embedded PNG, nothing loads from the network.

`write_report(run, result)` writes `report.html` and `metrics.json` into the run; the
helpers below (`png_img`, `html_table`, `figure`) build the sections each modality adds.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from genforge.core.images import make_grid, save_png
from genforge.core.io import write_json, write_text
from genforge.core.run import Run
from genforge.evaluate.result import EvalResult, Metric, Section

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1.2rem;color:#1d232a;background:#fbfbfc}
h1{font-size:1.5rem;margin:.2rem 0} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde;
padding-bottom:.2rem} .meta{color:#5a6470;font-size:.9rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem} th,td{padding:.3rem .7rem;
border-bottom:1px solid #e4e6ea;text-align:left;vertical-align:top} th{background:#f0f2f5}
td.num{text-align:right;font-variant-numeric:tabular-nums} .note{color:#5a6470;font-size:.85rem}
img{max-width:100%;image-rendering:pixelated;border:1px solid #e4e6ea;background:#fff}
.pair{display:inline-block;margin:.3rem;text-align:center;font-size:.8rem;color:#5a6470}
.verdict{padding:.6rem .9rem;border-radius:6px;margin:.8rem 0} .ok{background:#e7f6ec}
.warn{background:#fdf3e1} .bad{background:#fbe9e9}
"""


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def array_png(arr: Any) -> bytes:
    """A uint8 array (H, W) or (H, W, C) as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    a = arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def png_img(image: Any, alt: str = "", width: int | None = None) -> str:
    """An <img> with the picture embedded: PNG bytes, a matplotlib figure or a uint8 array."""
    if isinstance(image, bytes | bytearray):
        png = bytes(image)
    elif hasattr(image, "savefig"):
        png = figure_png(image)
    else:
        png = array_png(image)
    w = f' width="{width}"' if width else ""
    return f'<img src="{_b64(png)}" alt="{html.escape(alt)}"{w}>'


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """A table; numbers are right-aligned and formatted to 4 significant digits."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for v in row:
            cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            text = v if isinstance(v, Raw) else html.escape(fmt(v))
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class Raw(str):
    """A table cell holding HTML (an image, a link) rather than text."""


def metric_table(metrics: list[Metric]) -> str:
    rows = [
        [m.label, m.value, {"lower": "lower", "higher": "higher"}.get(m.better or "", ""), m.note]
        for m in metrics
    ]
    return html_table(["metric", "value", "better", "how"], rows)


def training_curves(run: Run) -> str:
    """Loss (and logged evaluation) curves from metrics.jsonl, or '' when nothing was logged."""
    records = run.metrics()
    loss_keys = sorted({k for r in records for k in r if k.startswith("loss")})
    eval_keys = sorted({k for r in records for k in r if k.startswith("eval_")})
    if not records or not (loss_keys or eval_keys):
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (loss_keys, eval_keys) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.2), squeeze=False)
    for ax, keys in zip(axes[0], panels, strict=True):
        for k in keys:
            pts = [(r["step"], r[k]) for r in records if k in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k, linewidth=1.2)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("training losses" if loss_keys else "evaluation during training")
    if len(panels) == 2:
        axes[0][1].set_title("evaluation during training")
    fig.tight_layout()
    return png_img(fig, "training curves")


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><div class='meta'>{subtitle}</div>",
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>\n{s.html}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: Run, result: EvalResult, path: Path | None = None) -> Path:
    """Write `report.html` (and `metrics.json` beside it) for `run`; returns the HTML path."""
    cfg = run.read_config()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = html.escape(
        f"{cfg.get('model', '?')} · {result.modality} · data {cfg.get('data', {}).get('source', '?')}"
        f" · step {run.step} · evaluated {when}"
    )
    sections = [Section("Metrics", metric_table(result.metrics)), *result.sections]
    curves = training_curves(run)
    if curves:
        sections.append(Section("Training curves", curves))
    out = path or run.report_path
    write_text(out, render_page(f"{run.name}: evaluation report", subtitle, sections))
    write_json(
        out.with_name("metrics.json"), {"run": run.name, "step": run.step, **result.to_dict()}
    )
    return out


def read_eval(run: Run) -> dict[str, Any] | None:
    """The run's last evaluation (metrics.json), or None."""
    if not run.eval_path.exists():
        return None
    return json.loads(run.eval_path.read_text(encoding="utf-8"))


def grid_section(
    title: str, columns: list[str], images: list[Any], path: Path, params: dict, shown: int = 8
) -> tuple[Section, str]:
    """Rows of examples (at most `shown`), one column per image kind (tensors (N, C, H, W));
    also saved as a PNG at `path`. Returns the section and the PNG's path."""
    import torch

    k = min(shown, len(images[0]))
    rows = torch.stack([im_[:k] for im_ in images], 1).flatten(0, 1)  # (k * cols, C, H, W)
    grid = make_grid(rows, nrow=len(images))
    save_png(path, grid, params)
    width = min(480, max(240, grid.shape[1] * 3))  # small images enlarged, pixelated
    text = f"<p>Held-out images, one per row: {' | '.join(columns)}.</p>"
    return Section(title, text + png_img(grid, title, width=width)), str(path)
