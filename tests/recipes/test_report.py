from __future__ import annotations

import numpy as np
import pytest

from genforge.core.errors import GenforgeError
from genforge.evaluate.report import array_png, html_table, png_img
from genforge.evaluate.result import Section
from genforge.recipes.report import Verdict, write_recipe_report


def test_report_html_and_pdf(tmp_path):
    pic = png_img(array_png(np.full((700, 1000, 3), 200, np.uint8)), "wide")
    sections = [Section("Facts", html_table(["fact", "value"], [["return", "12.3 %"]]) + pic)]
    paths = write_recipe_report(
        tmp_path / "r.html",
        title="ACME – report",
        subtitle="synthetic market · seed 1",
        verdict=Verdict("bad", "2 claims removed", ["“rose” contradicted by −3 %"]),
        sections=sections,
        pdf=True,
    )
    assert [p.name for p in paths] == ["r.html", "r.pdf"]
    page = paths[0].read_text()
    assert "FAIL: 2 claims removed" in page and "12.3 %" in page
    assert page.index("Verdict") < page.index("Facts")
    assert paths[1].read_bytes().startswith(b"%PDF") and paths[1].stat().st_size > 5000


def test_report_path_must_be_html(tmp_path):
    with pytest.raises(GenforgeError, match=r"\.html"):
        write_recipe_report(
            tmp_path / "r.pdf", title="t", subtitle="s", verdict=Verdict("ok", "x"), sections=[]
        )
