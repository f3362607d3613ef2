"""A recipe's report: the verdict first, then the evidence; HTML always, PDF when asked.

The HTML is a self-contained page in the evaluation report's look (every picture an embedded
PNG), rendered with Jinja2 from `templates/page.html.j2`; each recipe renders its sections from
its own `<recipe>/templates/report.html.j2` (`report_macros`), with autoescape on, so text from
the data (file names, class names, company names) is escaped and only pictures built by
`genforge.evaluate.report` go in as they are. The PDF is rendered from the same sections with
fpdf2 (pure Python, no browser), in matplotlib's bundled DejaVu font so any Unicode in the
prose prints.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from markupsafe import Markup

from genforge.core.errors import GenforgeError
from genforge.core.io import write_text, write_with
from genforge.evaluate.report import CSS, fmt
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

    @property
    def word(self) -> str:
        return VERDICT_WORDS[self.level]

    def to_html(self) -> str:
        shared = templates("genforge.recipes").get_template("common.html.j2").module
        return str(shared.verdict(self.level, self.word, self.headline, self.reasons))


VERDICT_WORDS: dict[str, str] = {"ok": "PASS", "warn": "CAUTION", "bad": "FAIL"}


def _cell(value: Any) -> Any:
    """A table cell as `evaluate.report.html_table` writes it: Markup (a picture) as it is,
    anything else formatted by `fmt` (and escaped by the template)."""
    return value if isinstance(value, Markup) else fmt(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@functools.cache
def templates(package: str) -> Any:
    """The Jinja2 environment of a recipe package: its `templates/` folder first, then the
    shared one of `genforge.recipes` (page.html.j2, common.html.j2); HTML autoescaped."""
    import jinja2

    loaders = [jinja2.PackageLoader(package, "templates")]
    if package != "genforge.recipes":
        loaders.append(jinja2.PackageLoader("genforge.recipes", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    env.tests["numeric"] = _numeric
    return env


def report_macros(package: str) -> Any:
    """The macros of `package`'s templates/report.html.j2 (one per report section); each
    returns Markup, the HTML of one `Section`."""
    return templates(package).get_template("report.html.j2").module


def picture(img_html: str) -> Markup:
    """An `<img>` built by `genforge.evaluate.report.png_img` (or `training_curves`), marked
    safe for the templates: the only HTML a template takes as it is."""
    return Markup(img_html)


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
    page = templates("genforge.recipes").get_template("page.html.j2")
    write_text(path, page.render(title=title, subtitle=subtitle, css=Markup(CSS),
                                 sections=all_sections))  # fmt: skip
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
