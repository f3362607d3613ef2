"""The translation playground in a real browser: a tiny seq2seq run trained on a made-up word
mapping is listed with text controls; a source text typed in comes back translated, shown as
text next to its source, the same text the server recorded, and no error is shown. Screenshots
land in the test's tmp dir."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
WORDS = ["ka", "lo", "mi", "su", "te", "ra", "no", "pi"]
MEANING = dict(zip(WORDS, ["BAV", "DOR", "FEK", "GUS", "HIM", "JOL", "KUP", "LEZ"], strict=True))


def word_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Every word has its own meaning, order kept (as in tests/cli/test_cli_seq2seq.py)."""
    rng = random.Random(seed)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        s = rng.choices(WORDS, k=3)
        pairs.add((" ".join(s), " ".join(MEANING[w] for w in s)))
    return sorted(pairs)


def test_translate_in_browser(tmp_path: Path, free_port, start_server, chromium):
    from playwright.sync_api import expect

    from genforge.train.launch import train

    runs, port = tmp_path / "runs", free_port()
    tsv = tmp_path / "words.tsv"
    tsv.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in word_pairs(300)))
    train("seq2seq", str(tsv), name="mt", runs_dir=runs, size="micro", steps=400,
          batch_size=32, lr=3e-3, dropout=0.0, warmup_steps=20, vocab_size=60,
          dedup="exact")  # fmt: skip
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium() as new_page:
            page, errors = new_page(1280, 860, dialogs_are_errors=True)

            page.goto(base + "/#generate")
            page.locator("#tabs button[data-tab=generate]").click()
            page.select_option("#gen-run", "mt")
            expect(page.locator("#gen-controls")).to_have_attribute("data-run", "mt")
            expect(page.locator("#gen-controls")).to_have_attribute("data-modality", "text-pair")
            source = page.locator("#gen-controls [name=prompt]")
            expect(source).to_have_count(1)
            for name in ("sampler", "guidance", "label", "best_of"):  # image controls: none
                expect(page.locator(f"#gen-controls [name={name}]")).to_have_count(0)
            expect(page.locator("#gen-controls [name=n]")).to_have_value("1")  # one translation
            source.fill("ka lo mi")
            page.click("#gen-go")
            expect(page.locator("#status")).to_contain_text("output(s) from mt", timeout=90_000)
            expect(page.locator("#status")).not_to_have_class("error")
            cards = page.locator("#gen-results .card")
            expect(cards).to_have_count(1)
            card = cards.first
            expect(card.locator("img")).to_have_count(0)  # text, not a broken image
            expect(card.locator(".source")).to_have_text("ka lo mi")
            shown = card.locator(".gen-text").text_content()
            oid = card.get_attribute("data-id")
            stored = httpx.get(f"{base}/v1/outputs/{oid}/content").text
            assert shown.strip() and shown == stored, (shown, stored)
            assert shown.strip() == "BAV DOR FEK", shown  # learned the mapping, not copied
            page.screenshot(path=shots / "translate.png", full_page=True)
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=30)
