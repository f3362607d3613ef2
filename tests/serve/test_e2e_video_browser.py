"""The gallery plays a generated clip in a real browser: `genforge serve` on a tiny video run,
a clip generated over REST, then the gallery's <video> element loads the MP4, plays (its
currentTime advances) and reports no media error. A screenshot lands in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
TINY = {"image_size": 8, "frames": 4, "steps": 2, "batch_size": 4, "block_out_channels": (8, 16),
        "norm_num_groups": 4, "preview_steps": 2, "num_train_timesteps": 50}  # fmt: skip

PLAY = """async (v) => {
  v.muted = true;
  await v.play();
  const seen = [];
  for (let i = 0; i < 40 && seen.filter((t) => t > 0).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
    seen.push(v.currentTime);
  }
  return { seen, readyState: v.readyState, error: v.error && v.error.code, paused: v.paused,
           width: v.videoWidth, height: v.videoHeight, duration: v.duration };
}"""


def test_the_gallery_plays_a_generated_clip(tmp_path: Path, free_port, start_server, chromium):
    from playwright.sync_api import expect

    from genforge.train.launch import train

    runs, port = tmp_path / "runs", free_port()
    train("cvdm", "moving-digits", name="cv", runs_dir=runs, **TINY)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = start_server(runs, port)
    base = f"http://127.0.0.1:{port}"
    try:
        out = httpx.post(f"{base}/v1/generate", timeout=120,
                         json={"run": "cv", "n": 1, "seed": 5, "label": "3"})  # fmt: skip
        assert out.status_code == 200, out.text
        oid = out.json()["outputs"][0]["id"]
        with chromium() as new_page:
            page, errors = new_page(1100, 700)
            page.goto(base + "/")
            page.locator("#tabs button[data-tab=gallery]").click()
            page.select_option("#gallery-run", "cv")
            page.click("#gallery-form button[type=submit]")
            card = page.locator(f"#gallery-items .card[data-id='{oid}']")
            expect(card).to_contain_text("3 · 4 frames at 8 fps")
            video = card.locator("video")
            expect(video).to_have_count(1)
            page.wait_for_function(
                f"document.querySelector(\"#gallery-items .card[data-id='{oid}'] video\")"
                ".readyState >= 2"
            )  # the MP4 fetched, decoded, a frame to show
            got = video.evaluate(PLAY)
            assert got["error"] is None, got  # no MediaError: Chromium decodes the H.264
            assert got["readyState"] >= 2, got
            assert any(t > 0 for t in got["seen"]), got  # playing: currentTime advances
            assert (got["width"], got["height"]) == (128, 128), got
            assert got["duration"] == pytest.approx(0.5, abs=0.1), got  # 4 frames at 8 fps
            video.evaluate("(v) => v.pause()")
            card.screenshot(path=shots / "gallery-video.png")
            page.screenshot(path=shots / "gallery.png", full_page=True)
            assert not errors, errors
    finally:
        server.terminate()
        server.wait(timeout=30)
