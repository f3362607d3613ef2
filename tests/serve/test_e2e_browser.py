"""End to end in a real browser: start `genforge serve`, train a tiny run from the UI, watch it
finish, generate, and find the image in the gallery. Screenshots land in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def test_train_generate_gallery_in_browser(tmp_path: Path, free_port, start_server):
    from playwright.sync_api import expect, sync_playwright

    runs, port = tmp_path / "runs", free_port()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # datasets: the embedded digits with thumbnails and a report
            page.goto(base + "/")
            page.locator("#dataset-list li[data-name=digits]").click()
            expect(page.locator("#dataset-report")).to_contain_text("images kept")
            page.wait_for_function("document.querySelector('#dataset-thumbs').naturalWidth > 0")
            page.screenshot(path=shots / "datasets.png", full_page=True)

            # train: a tiny DCGAN, watched until it completes
            page.locator("#tabs button[data-tab=train]").click()
            page.select_option("#train-model", "dcgan")
            page.select_option("#train-data", "digits")
            page.fill("#train-form [name=name]", "ui-run")
            page.fill("#train-form [name=steps]", "6")
            page.select_option("#train-form [name=image_size]", "16")
            page.fill("#train-form [name=batch_size]", "8")
            page.click("#train-start")
            expect(page.locator("#watch-badge")).to_have_text("completed", timeout=120_000)
            page.wait_for_function("document.querySelector('#watch-samples').naturalWidth > 0")
            page.screenshot(path=shots / "train.png", full_page=True)

            # generate 4 images with a seed
            page.locator("#tabs button[data-tab=generate]").click()
            page.select_option("#gen-run", "ui-run")
            assert page.locator("#gen-controls [name=label]").count() == 0  # unconditional
            page.fill("#gen-controls [name=n]", "4")
            page.fill("#gen-controls [name=seed]", "7")
            page.click("#gen-go")
            expect(page.locator("#gen-results .card")).to_have_count(4)
            page.screenshot(path=shots / "generate.png", full_page=True)
            ids = page.locator("#gen-results .card").evaluate_all("cs => cs.map(c => c.dataset.id)")

            # the gallery shows them, images loaded, with their parameters
            page.locator("#tabs button[data-tab=gallery]").click()
            expect(page.locator("#gallery-items .card")).to_have_count(4)
            for oid in ids:
                card = page.locator(f"#gallery-items .card[data-id='{oid}']")
                expect(card).to_contain_text("seed 7")
                page.wait_for_function(
                    f"document.querySelector(\"#gallery-items img[data-id='{oid}']\").naturalWidth > 0"
                )
            page.screenshot(path=shots / "gallery.png", full_page=True)

            # phone width: the same gallery still lays out (no horizontal overflow)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=shots / "gallery-phone.png", full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
            page.locator("#tabs button[data-tab=train]").click()
            page.locator("#run-list li[data-name=ui-run]").click()
            expect(page.locator("#watch-badge")).to_have_text("completed")
            page.screenshot(path=shots / "train-phone.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
            browser.close()
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"screenshots in {shots}")
