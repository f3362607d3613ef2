"""End to end in a real browser: start `genforge serve`, train a tiny run from the UI, watch it
finish, generate, and find the image in the gallery. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


def test_train_generate_gallery_in_browser(
    tmp_path: Path, free_port, start_server, diffusion_runs, chromium
):
    import shutil

    from playwright.sync_api import expect

    runs, port = tmp_path / "runs", free_port()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for name in ("cd", "ti"):  # tiny trained diffusion runs: class-conditional, text-to-image
        shutil.copytree(diffusion_runs / name, runs / name)
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium() as new_page:
            page, errors = new_page(1280, 860)

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
            page.fill("#train-form [name=log_every]", "1")  # a curve of 6 points
            page.fill("#train-form [name=sample_every]", "3")  # the grid refreshes midway
            page.click("#train-start")
            expect(page.locator("#watch-badge")).to_have_text("completed", timeout=120_000)
            page.wait_for_function("document.querySelector('#watch-samples').naturalWidth > 0")
            # the loss curve is drawn from the run's metrics (points of loss_d and loss_g)
            canvas = page.locator("#loss-canvas")
            expect(canvas).to_be_visible()
            expect(canvas).to_have_attribute("data-series", "loss_d loss_g")
            assert int(canvas.get_attribute("data-points")) == 12  # 2 losses x 6 steps
            page.screenshot(path=shots / "train.png", full_page=True)

            # generate 4 images with a seed
            page.locator("#tabs button[data-tab=generate]").click()
            # a class-conditional diffusion run offers sampler, steps and guidance ...
            page.select_option("#gen-run", "cd")
            expect(page.locator("#gen-controls")).to_have_attribute("data-run", "cd")
            expect(page.locator("#gen-controls [name=sampler]")).to_have_value("ddim")
            for name in ("steps", "guidance", "label", "best_of"):
                expect(page.locator(f"#gen-controls [name={name}]")).to_have_count(1)
            expect(page.locator("#gen-controls [name=eta]")).to_be_visible()  # ddim's option
            page.select_option("#gen-controls [name=sampler]", "dpm-solver++")
            expect(page.locator("#gen-controls [name=eta]")).to_be_hidden()
            page.fill("#gen-controls [name=steps]", "3")
            page.fill("#gen-controls [name=guidance]", "2")
            page.fill("#gen-controls [name=n]", "2")
            page.click("#gen-go")
            # the first diffusion request loads the model (and diffusers) in the server
            expect(page.locator("#status")).to_contain_text("output(s) from cd", timeout=90_000)
            expect(page.locator("#gen-results .card")).to_have_count(2)
            expect(page.locator("#gen-results .card").first).to_contain_text("dpm-solver++ 3 steps")
            expect(page.locator("#gen-results .card").first).to_contain_text("guidance 2")
            page.screenshot(path=shots / "generate-diffusion.png", full_page=True)
            # ... a text-to-image run a prompt ...
            page.select_option("#gen-run", "ti")
            expect(page.locator("#gen-controls")).to_have_attribute("data-run", "ti")
            expect(page.locator("#gen-controls [name=prompt]")).to_have_count(1)
            expect(page.locator("#gen-controls [name=best_of]")).to_have_count(0)
            page.fill("#gen-controls [name=prompt]", "a handwritten seven")
            page.fill("#gen-controls [name=steps]", "3")
            page.click("#gen-go")
            expect(page.locator("#status")).to_contain_text("output(s) from ti", timeout=60_000)
            expect(page.locator("#gen-results .card").first).to_contain_text(
                '"a handwritten seven"'
            )
            # ... and a GAN none of them (but truncation and best-of)
            page.select_option("#gen-run", "ui-run")
            expect(page.locator("#gen-controls")).to_have_attribute("data-run", "ui-run")
            for name in ("sampler", "steps", "guidance", "prompt", "label"):
                expect(page.locator(f"#gen-controls [name={name}]")).to_have_count(0)
            expect(page.locator("#gen-controls [name=best_of]")).to_have_count(1)
            page.fill("#gen-controls [name=n]", "4")
            page.fill("#gen-controls [name=seed]", "7")
            page.click("#gen-go")
            expect(page.locator("#status")).to_contain_text("output(s) from ui-run")
            expect(page.locator("#gen-results .card")).to_have_count(4)
            page.screenshot(path=shots / "generate.png", full_page=True)
            ids = page.locator("#gen-results .card").evaluate_all("cs => cs.map(c => c.dataset.id)")

            # the gallery shows them, images loaded, with their parameters
            page.locator("#tabs button[data-tab=gallery]").click()
            page.select_option("#gallery-run", "ui-run")
            page.click("#gallery-form button[type=submit]")
            expect(page.locator("#gallery-items .card")).to_have_count(4)
            for oid in ids:
                card = page.locator(f"#gallery-items .card[data-id='{oid}']")
                expect(card).to_contain_text("seed 7")
                page.wait_for_function(
                    f"document.querySelector(\"#gallery-items img[data-id='{oid}']\").naturalWidth > 0"
                )
            page.screenshot(path=shots / "gallery.png", full_page=True)
            # searchable: the diffusion outputs by their sampler, typed (no submit)
            page.select_option("#gallery-run", "")
            page.fill("#gallery-q", "dpm-solver++")
            expect(page.locator("#gallery-items .card")).to_have_count(2)
            # re-runnable: the same run, seed and settings again give the same pixels
            first = page.locator("#gallery-items .card").first
            old_id = first.get_attribute("data-id")
            first.locator("button.rerun").click()
            expect(page.locator("#tabs button[data-tab=generate]")).to_have_class("active")
            expect(page.locator("#gen-results .card")).to_have_count(2)
            expect(page.locator("#gen-results .card").first).to_contain_text("dpm-solver++ 3 steps")
            new_ids = page.locator("#gen-results .card").evaluate_all(
                "cs => cs.map(c => c.dataset.id)"
            )
            assert old_id not in new_ids
            same = page.evaluate(
                """async ([a, b]) => {
                  const px = async (id) => {
                    const blob = await (await fetch(`/v1/outputs/${id}/content`)).blob();
                    const bm = await createImageBitmap(blob);
                    const c = new OffscreenCanvas(bm.width, bm.height), x = c.getContext("2d");
                    x.drawImage(bm, 0, 0);
                    return Array.from(x.getImageData(0, 0, bm.width, bm.height).data);
                  };
                  const [p, q] = [await px(a), await px(b)];
                  return p.length > 0 && p.every((v, i) => v === q[i]);
                }""",
                [old_id, new_ids[1]],  # the gallery lists newest first: old_id was output #1
            )
            assert same, "re-run gave other pixels"
            page.locator("#tabs button[data-tab=gallery]").click()
            page.fill("#gallery-q", "")
            page.select_option("#gallery-run", "ui-run")
            page.click("#gallery-form button[type=submit]")
            expect(page.locator("#gallery-items .card")).to_have_count(4)

            # phone width: the same gallery still lays out (no horizontal overflow)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=shots / "gallery-phone.png", full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
            page.locator("#tabs button[data-tab=train]").click()
            page.locator("#run-list li[data-name=ui-run]").click()
            expect(page.locator("#watch-badge")).to_have_text("completed")
            expect(page.locator("#loss-canvas")).to_have_attribute("data-series", "loss_d loss_g")
            box = page.locator("#loss-canvas").bounding_box()
            assert box and box["width"] <= 390 and box["height"] >= 150, box
            page.screenshot(path=shots / "train-phone.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
            page.locator("#tabs button[data-tab=generate]").click()
            page.select_option("#gen-run", "cd")
            expect(page.locator("#gen-controls")).to_have_attribute("data-run", "cd")
            expect(page.locator("#gen-controls [name=sampler]")).to_have_count(1)
            page.screenshot(path=shots / "generate-phone.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"screenshots in {shots}")


HOSTILE_CARD = """# evil <script>alert(1)</script>

## Data

- classes: <img src=x onerror=alert(2)>, <b>bold</b>

![samples](samples/latest.png)
"""


def test_reports_page_renders_model_card(
    tmp_path: Path, free_port, start_server, trained_runs, chromium
):
    """The Reports page shows a run's README.md rendered (headings, lists, code, the sample
    grid), and a card whose text holds HTML shows it as text: nothing in it runs."""
    import shutil

    from playwright.sync_api import expect

    runs, port = tmp_path / "runs", free_port()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    shutil.copytree(trained_runs / "dc", runs / "dc")
    shutil.copytree(trained_runs / "dc", runs / "evil")
    (runs / "evil" / "README.md").write_text(HOSTILE_CARD)
    server = start_server(runs, port)
    try:
        with chromium() as new_page:
            page, errors = new_page(1280, 860, dialogs_are_errors=True)

            page.goto(f"http://127.0.0.1:{port}/#reports")
            page.select_option("#report-run", "dc")
            expect(page.locator("#report-file")).to_have_value("README.md")
            card = page.locator("#report-card")
            expect(card).to_be_visible()
            expect(card).to_have_attribute("data-run", "dc")
            expect(card.locator("h1")).to_have_text("dc")
            # exactly "Training" (the card also has "Training data", the data's licences)
            expect(card.locator("h2", has_text=re.compile(r"^Training$"))).to_have_count(1)
            expect(card.locator("li").first).to_contain_text("images used")
            expect(card.locator("pre code.language-yaml")).to_contain_text("model: dcgan")
            assert "## " not in card.inner_text()
            page.wait_for_function(
                "document.querySelector('#report-card img[alt=samples]').naturalWidth > 0"
            )
            page.screenshot(path=shots / "reports-card.png", full_page=True)

            # another file of the run still shows as before; back to the card
            page.select_option("#report-file", "config.yaml")
            expect(page.locator("#report-text")).to_contain_text("model: dcgan")
            expect(card).to_be_hidden()
            page.select_option("#report-file", "README.md")
            expect(card).to_be_visible()
            expect(card.locator("h1")).to_have_text("dc")

            # HTML in a card's text is text. The answer for "dc" is held back until "evil"
            # shows: a late answer for an earlier choice must not overwrite the later one.
            held: list = []
            page.route("**/v1/runs/dc/card", lambda route: held.append(route))
            page.select_option("#report-file", "config.yaml")
            page.select_option("#report-file", "README.md")
            page.select_option("#report-run", "evil")
            expect(card).to_have_attribute("data-run", "evil")
            expect(card.locator("h1")).to_have_text("evil <script>alert(1)</script>")
            assert len(held) == 1
            with page.expect_response("**/v1/runs/dc/card"):
                held[0].continue_()
            page.unroute("**/v1/runs/dc/card")
            page.wait_for_timeout(300)
            expect(card).to_have_attribute("data-run", "evil")
            expect(card.locator("h1")).to_have_text("evil <script>alert(1)</script>")
            expect(card.locator("li")).to_contain_text("<img src=x onerror=alert(2)>, <b>bold</b>")
            expect(card.locator("script, b, img:not([alt=samples])")).to_have_count(0)
            page.screenshot(path=shots / "reports-hostile.png", full_page=True)

            page.set_viewport_size({"width": 390, "height": 844})
            page.select_option("#report-run", "dc")
            expect(card).to_have_attribute("data-run", "dc")
            page.screenshot(path=shots / "reports-phone.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"screenshots in {shots}")
