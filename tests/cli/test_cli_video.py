"""`genforge data inspect/train/sample/predict/interpolate` for video, and a video run killed
with SIGKILL mid-training that resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genforge.core.run import Run
from genforge.core.video import decode_bytes
from videokit import clip_folder, moving_square, write_video

from .conftest import Cli

TINY = ["--image-size", "8", "--frames", "4", "--batch-size", "4", "--set",
        "block_out_channels=[8,16]", "--set", "preview_steps=2", "--set",
        "num_train_timesteps=50"]  # fmt: skip


def test_inspect_lists_every_container_and_what_was_skipped(cli: Cli, tmp_path: Path):
    root = clip_folder(tmp_path / "clips")
    out = cli.ok("data", "inspect", root).stdout
    assert "6 clips kept of 9 found" in out
    for name in ("broken.mp4", "empty.gif", "empty file (0 bytes)", "notes.txt"):
        assert name in out
    assert ".webm (1)" in out and "frames (1)" in out and "48x32 (1)" in out
    assert "moving-digits: 1800 clips" in cli.ok("data", "inspect", "moving-digits").stdout


def test_train_sample_predict_interpolate(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    cli.ok("train", "cvdm", "--data", "moving-digits", "--steps", "2", "--name", "md", *TINY,
           "--runs-dir", runs)  # fmt: skip
    out = cli.ok("sample", "md", "--n", "3", "--steps", "2", "--label", "4", "--out",
                 tmp_path / "s.mp4", "--runs-dir", runs).stdout  # fmt: skip
    assert "3 clips (4 frames at 8 fps, 8x8)" in out
    assert decode_bytes((tmp_path / "s.mp4").read_bytes()).shape[0] == 4
    cli.ok("sample", "md", "--n", "2", "--steps", "2", "--out", tmp_path / "s.gif",
           "--runs-dir", runs)  # fmt: skip
    cli.ok("sample", "md", "--n", "2", "--steps", "2", "--out", tmp_path / "s.png",
           "--runs-dir", runs)  # fmt: skip
    assert Image.open(tmp_path / "s.png").size[0] > Image.open(tmp_path / "s.png").size[1]
    assert "--out must end in .mp4, .gif or .png" in cli.fails(
        "sample", "md", "--out", tmp_path / "s.avi", "--runs-dir", runs
    )
    clip = write_video(tmp_path / "in.mp4", moving_square(12, 16))  # 1.5 s at 8 fps
    out = cli.ok("predict", "md", "--clip", clip, "--context", "2", "--frames", "3",
                 "--steps", "2", "--out", tmp_path / "p.png", "--runs-dir", runs).stdout  # fmt: skip
    assert "2 frames given + 3 predicted" in out
    assert "prediction PSNR (dB)" in out and "repeating the last given frame" in out
    assert "inferred from the given frames" in out  # no --label: the run's model reads it
    labeled = cli.ok("predict", "md", "--clip", clip, "--context", "2", "--label", "3", "--steps",
                     "2", "--out", tmp_path / "p3.mp4", "--runs-dir", runs).stdout  # fmt: skip
    assert "inferred" not in labeled
    strip = np.asarray(Image.open(tmp_path / "p.png"))
    assert strip.shape[1] > 4 * strip.shape[0]  # one row of 5 frames
    assert "--context must be 1 to 3" in cli.fails(
        "predict", "md", "--clip", clip, "--context", "4", "--runs-dir", runs
    )
    out = cli.ok("interpolate", "md", "--clip", clip, "--factor", "2", "--steps", "2",
                 "--out", tmp_path / "i.mp4", "--runs-dir", runs).stdout  # fmt: skip
    assert "6 frames -> 11 frames at 8 fps" in out  # 1.5 s read at 4 fps
    assert decode_bytes((tmp_path / "i.mp4").read_bytes()).shape[0] == 11
    assert "no such clip" in cli.fails("predict", "md", "--clip", tmp_path / "none.mp4",
                                       "--runs-dir", runs)  # fmt: skip
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    for how in (["--mask", tmp_path / "mask.png"], ["--denoise", "0.5"]):
        out = cli.ok("restore", "md", "--clip", clip, *how, "--steps", "2", "--out",
                     tmp_path / "r.mp4", "--runs-dir", runs).stdout  # fmt: skip
        assert "restored clip" in out
        assert decode_bytes((tmp_path / "r.mp4").read_bytes()).shape[0] == 4
    assert "give either --input IMAGE or --clip CLIP" in cli.fails(
        "restore", "md", "--denoise", "0.5", "--runs-dir", runs
    )


def test_a_video_run_survives_kill_9_and_resumes(cli: Cli, tmp_path: Path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "genforge.cli.main", "train", "vdm", "--data", "moving-digits",
           "--steps", "400", "--name", "k9", *TINY, "--set", "checkpoint_every=3",
           "--set", "sample_every=1000", "--runs-dir", str(runs)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = Run(runs / "k9")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and (run.read_meta() or {}).get("step", 0) < 6:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = run.step
    assert 6 <= killed_at < 400 and proc.returncode == -signal.SIGKILL
    cli.ok("train", "--resume", "k9", "--steps", str(killed_at + 2), "--runs-dir", runs)
    assert run.step == killed_at + 2
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in
             run.metrics_path.read_text().splitlines() if '"step"' in line]  # fmt: skip
    assert steps == sorted(steps)  # steps after the checkpoint were redone, not duplicated
