"""/v1/generate for video runs: a playable MP4 (checked by decoding it back), the clips
`genforge sample` draws for the same seed, provenance with key-frame hashes, the watermark in
every frame of a 256 px clip (found again from one frame or a re-encoded copy), bad requests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from genforge.core.video import decode_bytes
from genforge.serve import Settings, create_app

CSRF = {"X-Genforge-CSRF": "1"}  # what the web UI sends with an upload (else: 403)
TINY = {"image_size": 8, "frames": 4, "steps": 2, "batch_size": 4, "block_out_channels": (8, 16),
        "norm_num_groups": 4, "preview_steps": 2, "num_train_timesteps": 50}  # fmt: skip


@pytest.fixture(scope="module")
def video_runs(tmp_path_factory) -> Path:
    """runs/cv (class-conditional vdm) and runs/uv (unconditional), moving-digits 8 px."""
    from genforge.train.launch import train

    runs = tmp_path_factory.mktemp("video") / "runs"
    train("cvdm", "moving-digits", name="cv", runs_dir=runs, **TINY)
    train("vdm", "moving-digits", name="uv", runs_dir=runs, **TINY)
    return runs


@pytest.fixture
def client(tmp_path, video_runs):
    runs = tmp_path / "runs"
    shutil.copytree(video_runs, runs)
    with TestClient(create_app(Settings(runs_dir=runs, start_worker=False, max_n=4))) as c:
        yield c


def test_generate_returns_a_playable_mp4_of_the_sampled_clips(client):
    r = client.post("/v1/generate", json={"run": "cv", "n": 2, "seed": 3, "label": "7"})
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert [o["media_type"] for o in outs] == ["video/mp4", "video/mp4"]
    assert [o["params"]["class"] for o in outs] == ["7", "7"]
    assert len(outs[0]["params"]["keyframe_phashes"]) == 3
    assert outs[0]["watermarked"] is False  # frames below 256 px carry no pixel watermark
    mp4 = client.get(outs[0]["url"])
    assert mp4.headers["content-type"] == "video/mp4"
    frames = decode_bytes(mp4.content)  # decodes back: 4 frames, upscaled for players
    assert frames.shape == (4, 128, 128, 3)
    # the clip `genforge sample` draws for this seed and label, through H.264's loss
    from genforge.core.run import Run
    from genforge.core.video import clip_frames
    from genforge.generate.video import VideoPipeline

    pipe = VideoPipeline(Run(client.app.state.services.settings.runs_dir / "cv"), device="cpu")
    clips, _ = pipe.sample(2, seed=3, label="7")
    want = clip_frames(clips[0], min_side=128).astype(float)
    assert np.abs(frames.astype(float) - want).mean() < 6  # 0..255 levels
    other = clip_frames(clips[1], min_side=128).astype(float)
    assert np.abs(frames.astype(float) - want).mean() < np.abs(frames.astype(float) - other).mean()
    found = client.get("/v1/outputs?q=cv").json()
    assert found["total"] == 2 and {i["modality"] for i in found["items"]} == {"video"}


def test_bad_video_requests_fail_alone(client):
    assert client.post("/v1/generate", json={"run": "cv", "label": "cat"}).status_code == 400
    assert client.post("/v1/generate", json={"run": "uv", "label": "1"}).status_code == 400
    assert client.post("/v1/generate", json={"run": "cv", "n": 5}).status_code == 413
    assert client.post("/v1/generate", json={"run": "cv", "prompt": "x"}).status_code == 400
    info = client.get("/v1/info").json()
    assert "label" in info["modalities"]["video"]


def test_frames_of_256_px_carry_the_watermark_and_detect_reads_it_back(client, monkeypatch):
    """A 256 px model is minutes per clip on a CPU; the sampler is replaced by a 256 px clip
    panning across a photo (what such a model's frames hold: texture, not flat black), and
    the server marks, encodes, records and detects it as it would the model's."""
    import io

    import torch
    from PIL import Image
    from skimage import data

    from genforge.core.video import mp4_bytes
    from genforge.evaluate.detection import Judge
    from genforge.generate.video import VideoPipeline

    photo = torch.from_numpy(np.array(Image.fromarray(data.camera()).resize((288, 256))))
    clip = torch.stack([photo[:, 8 * t : 8 * t + 256] for t in range(4)])  # (T, 256, 256)
    clip = (clip.float() / 127.5 - 1)[None, None]  # (1, C=1, T, H, W) in [-1, 1]
    monkeypatch.setattr(
        VideoPipeline, "denoise", lambda self, z, y, *a, **k: clip.repeat(len(z), 1, 1, 1, 1)
    )
    out = client.post("/v1/generate", json={"run": "cv", "n": 1, "seed": 1}).json()["outputs"][0]
    assert out["watermarked"] is True
    mp4 = client.get(out["url"]).content
    frames = decode_bytes(mp4)
    assert frames.shape == (4, 256, 256, 3)
    buf = io.BytesIO()
    Image.fromarray(frames[2]).save(buf, format="PNG")  # one frame of the decoded MP4
    copy = mp4_bytes(frames, 8.0, {"note": "re-encoded"})  # a copy: new bytes, same frames
    for name, content in (("frame.png", buf.getvalue()), ("copy.mp4", copy)):
        r = client.post("/v1/watermark/detect", headers=CSRF, files={"file": (name, content)})
        assert r.status_code == 200, r.text
        assert r.json()["evidence"] == "watermark" and r.json()["record"]["id"] == out["id"]
    judge = Judge(store=client.app.state.services.provenance)  # what `genforge detect` asks
    verdict = judge.judge(copy, "copy.mp4")
    assert verdict.verdict == "generated" and verdict.evidence[0].kind == "watermark"
    assert (
        "not a readable clip"
        in client.post(
            "/v1/watermark/detect", headers=CSRF, files={"file": ("x.mp4", copy[:100])}
        ).text
    )
