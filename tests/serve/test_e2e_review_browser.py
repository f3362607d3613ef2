"""Review in a real browser: rate outputs in the gallery with the keyboard (j/k, u/d, 1-5),
see the counts update, and find the ratings on the server."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def test_rate_three_outputs_with_the_keyboard(
    tmp_path, free_port, start_server, trained_runs, chromium
):
    from playwright.sync_api import expect

    runs, port = tmp_path / "runs", free_port()
    shutil.copytree(trained_runs / "dc", runs / "dc")
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    shots = Path(os.environ.get("GENFORGE_SHOTS") or tmp_path)
    try:
        gen = httpx.post(f"{base}/v1/generate", json={"run": "dc", "n": 4, "seed": 2}, timeout=60)
        ids = [o["id"] for o in gen.json()["outputs"]]
        with chromium() as new_page:
            page, errors = new_page(1100, 800)
            page.goto(base + "/")
            page.locator("#tabs button[data-tab=gallery]").click()  # one load: the only run's 4
            cards = page.locator("#gallery-items .card")
            expect(cards).to_have_count(4)
            expect(page.locator("#gallery-rated")).to_have_text(
                "· rated 0 of 4 shown · 0 up · 0 down"
            )
            page.locator("body").click(position={"x": 5, "y": 5})  # focus the page, not an input
            for key in ("j", "u", "j", "d", "j", "3"):
                page.keyboard.press(key)
            expect(page.locator("#gallery-rated")).to_have_text(
                "· rated 3 of 4 shown · 1 up · 1 down · mean score 3.0"
            )
            selected_rated = re.compile(r"(?=.*\bselected\b)(?=.*\brated\b)")
            expect(cards.nth(2)).to_have_class(selected_rated)
            # tags and a note from the card itself; the note is shown as text, never as HTML
            third = cards.nth(2)
            third.locator("input.tags").fill("blurry, <i>odd</i>")
            third.locator("input.tags").press("Enter")
            third.locator("input.note").fill("<img src=x onerror=alert(1)>")
            third.locator("input.note").press("Enter")
            page.keyboard.press("Escape")  # leave the field: the keys review again
            page.keyboard.press("k")  # back to the second card
            expect(cards.nth(1)).to_have_class(selected_rated)
            expect(cards.nth(3)).not_to_have_class(re.compile(r"\brated\b"))
            page.screenshot(path=shots / "review-gallery.png", full_page=True)
            # a review batch of the run: fresh outputs, least sure first, rated the same way
            page.select_option("#gallery-run", "dc")
            page.fill("#review-n", "3")
            page.click("#review-draw")
            expect(page.locator("#gallery-count")).to_have_text(
                "review batch of 3, least sure first by the auto gate"
            )
            expect(cards).to_have_count(3)
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press("j")
            page.keyboard.press("u")
            expect(page.locator("#gallery-rated")).to_have_text(
                "· rated 1 of 3 shown · 1 up · 0 down"
            )
            expect(page.locator("#gallery-agreement")).to_have_text("· dc: 4 ratings by 1 rater(s)")
            page.screenshot(path=shots / "review-batch.png", full_page=True)
            assert not errors, errors
        fb = httpx.get(f"{base}/v1/runs/dc/feedback", timeout=10).json()
        got = {i["output_id"]: i for i in fb["items"]}
        order = list(reversed(ids))  # the gallery lists newest first
        assert got[order[0]]["thumb"] == "up" and got[order[1]]["thumb"] == "down"
        third_rating = got[order[2]]
        assert third_rating["score"] == 3 and third_rating["tags"] == ["<i>odd</i>", "blurry"]
        assert third_rating["note"] == "<img src=x onerror=alert(1)>"
        assert fb["summary"]["ratings"] == 4
    finally:
        server.kill()
        server.wait(timeout=30)
