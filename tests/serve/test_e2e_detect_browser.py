"""The Detect tab in a real browser: a served output is found by its bytes, a real digit is
judged by a detector run with its measured error rates, and a file name with HTML in it is
shown as text. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
HOSTILE = "<img src=x onerror=window.pwned=1>.png"


def test_detect_page_in_browser(tmp_path: Path, free_port, start_server, trained_runs, chromium):
    from playwright.sync_api import expect

    from genforge.api import train_detector
    from genforge.data import load_images

    runs, port = tmp_path / "runs", free_port()
    shutil.copytree(trained_runs / "dc", runs / "dc")
    train_detector("digits", runs / "dc", samples=80, name="det", runs_dir=runs, image_size=16,
                   steps=20, batch_size=16, width=8)  # fmt: skip
    digit = ((load_images("digits", 16).images[3, 0].numpy() + 1) * 127.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, format="PNG")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        out = httpx.post(f"{base}/v1/generate", timeout=60,
                         json={"run": "dc", "n": 1, "seed": 2, "response": "base64"})  # fmt: skip
        served = base64.b64decode(out.json()["outputs"][0]["data_base64"])
        with chromium() as new_page:
            page, errors = new_page(1280, 760)
            page.goto(base + "/#detect")
            expect(page.locator("#detect-detector option[value=det]")).to_have_count(1)

            # a served output: found by its exact bytes, no detector needed
            page.set_input_files("#detect-file", files=[
                {"name": "served.png", "mimeType": "image/png", "buffer": served}])  # fmt: skip
            page.click("#detect-go")
            expect(page.locator("#detect-verdict .badge")).to_have_attribute(
                "data-verdict", "generated"
            )
            expect(page.locator("#detect-evidence")).to_contain_text("sha256")

            # a real digit under a hostile file name, judged by the detector run
            page.select_option("#detect-detector", "det")
            page.set_input_files("#detect-file", files=[
                {"name": HOSTILE, "mimeType": "image/png", "buffer": buf.getvalue()}])  # fmt: skip
            page.click("#detect-go")
            expect(page.locator("#detect-title")).to_have_text(HOSTILE)
            expect(page.locator("#detect-evidence")).to_contain_text("false-positive rate")
            verdict = page.locator("#detect-verdict .badge").get_attribute("data-verdict")
            assert verdict in ("real", "generated")
            assert page.locator("#detect img").count() == 0
            assert page.evaluate("window.pwned") is None
            page.screenshot(path=shots / "detect.png", full_page=True)
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=30)
