"""A recipe's report: the verdict first, then the evidence; HTML always, PDF when asked.

The HTML is the evaluation report's self-contained page (every picture an embedded PNG). The
PDF is rendered from the same sections with fpdf2 (pure Python, no browser), in matplotlib's
bundled DejaVu font so any Unicode in the prose prints.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from genforge.core.errors import GenforgeError
from genforge.core.io import write_text, write_with
from genforge.evaluate.report import render_page
from genforge.evaluate.result import Section

Level = Literal["ok", "warn", "bad"]
_PDF_IMAGE_PX = 480  # widest picture in the PDF, in CSS px (the A4 text column is ~540 pt)


@dataclass
class Verdict:
    """What the user asked the recipe and its answer: `level` ok (go), warn (usable, with
    caveats) or bad (do not use); `reasons` are the measured facts behind it."""

    level: Level
    headline: str
    reasons: list[str] = field(default_factory=list)

    def to_html(self) -> str:
        items = "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
        word = {"ok": "PASS", "warn": "CAUTION", "bad": "FAIL"}[self.level]
        return (
            f"<div class='verdict {self.level}'><b>{word}: {html.escape(self.headline)}</b>"
            + (f"<ul>{items}</ul>" if items else "")
            + "</div>"
        )


def write_recipe_report(
    path: str | Path,
    *,
    title: str,
    subtitle: str,
    verdict: Verdict,
    sections: list[Section],
    pdf: bool = False,
) -> list[Path]:
    """Write `path` (HTML) and, with `pdf`, the same report beside it as .pdf; returns the paths.

    `subtitle` is plain text (escaped here); section HTML is trusted fragments built by the
    recipe with `evaluate.report` helpers."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise GenforgeError(f"report path must end in .html: {path}")
    all_sections = [Section("Verdict", verdict.to_html()), *sections]
    write_text(path, render_page(title, html.escape(subtitle), all_sections))
    out = [path]
    if pdf:
        out.append(write_pdf(path.with_suffix(".pdf"), title, subtitle, all_sections))
    return out


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


_IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_SRC = re.compile(r"src=\"data:image/png;base64,([^\"]+)\"")


def _pdf_html(fragment: str) -> str:
    """Section HTML as fpdf2's HTML subset takes it: pictures get an explicit width no wider
    than the page (fpdf2 would print a 1000 px figure at 1000 pt), styling tags dropped."""
    from PIL import Image

    def img(m: re.Match[str]) -> str:
        attrs = m.group(1)
        src = _SRC.search(attrs)
        if not src:
            return ""  # only embedded PNGs exist in these reports
        w, h = Image.open(io.BytesIO(base64.b64decode(src.group(1)))).size
        scale = min(1.0, _PDF_IMAGE_PX / w)
        return f'<img src="data:image/png;base64,{src.group(1)}" width="{round(w * scale)}" height="{round(h * scale)}">'

    fragment = _IMG.sub(img, fragment)
    fragment = re.sub(r"</?(div|span|small|code|section|figure|figcaption)\b[^>]*>", " ", fragment)
    return fragment


def write_pdf(path: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    fonts = _font_dir()
    for style, name in (("", "DejaVuSans"), ("B", "DejaVuSans-Bold"), ("I", "DejaVuSans-Oblique"),
                        ("BI", "DejaVuSans-BoldOblique")):  # fmt: skip
        pdf.add_font("dejavu", style, str(fonts / f"{name}.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("dejavu", "B", 16)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", "", 9)
    pdf.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", "", 10)
    for s in sections:
        body = f"<h2>{html.escape(s.title)}</h2>{_pdf_html(s.html)}"
        try:
            pdf.write_html(body, font_family="dejavu")
        except Exception as e:  # fpdf2's HTML subset is narrower than a browser's
            raise GenforgeError(f"PDF export failed in section {s.title!r}: {e}") from e
    write_with(path, lambda tmp: pdf.output(str(tmp)))
    return path
