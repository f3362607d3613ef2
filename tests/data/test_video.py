"""Video sources: every container (MP4, WebM, GIF, frame folders), broken and empty files,
variable frame rates, rotation, resampling, the embedded sets, the modality entry."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.modalities import get_modality
from genforge.data.video import (
    VideoDataConfig,
    decode_file,
    inspect_video,
    is_video_source,
    load_video,
    moving_digits,
    read_clip,
    resample_times,
)
from videokit import clip_folder, moving_square, write_gif, write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return clip_folder(tmp_path_factory.mktemp("video") / "clips")


def test_a_folder_of_every_container_loads_and_lists_what_it_skipped(clips: Path):
    ds = load_video(VideoDataConfig(source=str(clips), frames=6, fps=8.0, image_size=16))
    assert ds.images.shape == (6, 1, 6, 16, 16)
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    assert ds.class_names == ["left", "right"] and ds.labels.tolist() == [0, 0, 0, 0, 1, 1]
    r = ds.report
    skipped = {s.path: s.reason for s in r.skipped}
    assert set(skipped) == {"right/broken.mp4", "right/empty.gif", "right/notes.txt"}
    assert skipped["right/empty.gif"] == "empty file (0 bytes)"
    assert skipped["right/broken.mp4"].startswith(("unreadable", "no frames"))
    assert r.containers == {".mp4": 3, ".webm": 1, ".gif": 1, "frames": 1}
    assert r.num_clips == 6 and r.num_files == 9
    assert [s[0] for s in r.short] == ["right/f.mp4"]  # 4 frames at 8 fps < 6 frames
    assert r.sizes["48x32"] == 1  # the wide MP4, center-cropped to a square


def test_clips_are_resampled_center_cropped_and_padded_with_their_last_frame(clips: Path):
    ds = load_video(VideoDataConfig(source=str(clips), frames=6, fps=4.0, image_size=16))
    short = ds.images[5, 0]  # right/f.mp4: 4 frames at 8 fps = 0.5 s; at 4 fps: 0, 2, 3, 3, ...
    assert torch.equal(short[2], short[5])  # past its end: the last frame repeats
    a = decode_file(clips / "left" / "a.mp4")
    assert len(a.frames) == 12 and a.rate == pytest.approx(8.0)
    assert resample_times(a.times, 6, 4.0).tolist() == [0, 2, 4, 6, 8, 10]  # every other frame


def test_variable_frame_rates_are_resampled_by_timestamp(tmp_path: Path):
    frames = np.zeros((6, 16, 16, 3), np.uint8)
    for t in range(6):
        frames[t] = 40 * t  # each frame its own gray level
    path = write_video(tmp_path / "vfr.mp4", frames, times_ms=[0, 100, 150, 600, 650, 1000])
    clip = decode_file(path)
    assert clip.variable_rate
    assert resample_times(clip.times, 5, 5.0).tolist() == [0, 2, 2, 3, 4]  # t = 0 .. 0.8 s
    x = read_clip(path, type("S", (), {"frames": 5, "fps": 5.0, "size": 8, "channels": 1})())
    levels = ((x[0, :, 4, 4] + 1) * 127.5).round().tolist()
    assert levels == pytest.approx([0, 80, 80, 120, 160], abs=6)
    report = inspect_video(str(tmp_path))
    assert report.variable_rate == ["vfr.mp4"]


def test_rotated_clips_are_turned_upright(tmp_path: Path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    frames = np.zeros((4, 16, 32, 3), np.uint8)
    frames[:, :, :16] = 255  # bright left half, landscape 32x16
    src = write_video(tmp_path / "src.mp4", frames)
    (tmp_path / "rot").mkdir()
    out = tmp_path / "rot" / "portrait.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-display_rotation", "90", "-i", str(src), "-c", "copy", str(out)],
                   check=True)  # fmt: skip
    clip = decode_file(out)
    assert clip.rotation == 90 and clip.frames[0].shape == (32, 16, 3)
    assert clip.frames[0][-4:].mean() > 200 and clip.frames[0][:4].mean() < 50  # left -> bottom
    report = inspect_video(str(tmp_path / "rot"))
    assert report.rotated == [("portrait.mp4", 90)] and report.sizes == {"16x32": 1}


def test_a_gif_decodes_with_its_frame_times(tmp_path: Path):
    path = write_gif(tmp_path / "a.gif", moving_square(5, 16), fps=10)
    clip = decode_file(path)
    assert len(clip.frames) == 5 and clip.times[1] == pytest.approx(0.1)


def test_bad_input_is_a_clear_error(tmp_path: Path, clips: Path):
    with pytest.raises(GenforgeError, match="no such folder"):
        load_video(VideoDataConfig(source=str(tmp_path / "missing")))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(GenforgeError, match="no readable clip .* 1 unreadable"):
        load_video(VideoDataConfig(source=str(tmp_path / "junk")))
    with pytest.raises(GenforgeError, match="frames must be 2..256"):
        load_video(VideoDataConfig(frames=1))
    with pytest.raises(GenforgeError, match="cannot read clip"):
        read_clip(clips / "right" / "broken.mp4", type("S", (), {"frames": 4, "fps": 8.0,
                                                                  "size": 8, "channels": 1})())  # fmt: skip


def test_what_counts_as_a_video_source(tmp_path: Path, clips: Path):
    assert is_video_source("moving-digits") and is_video_source(str(clips))
    still = tmp_path / "stills"
    still.mkdir()
    write_gif(still / "one.gif", moving_square(1, 16))  # a still GIF is an image
    assert not is_video_source(str(still))
    write_gif(still / "two.gif", moving_square(3, 16))
    assert is_video_source(str(still))


def test_moving_digits_are_seeded_bounce_inside_and_move():
    a, ya = moving_digits(8, 8.0, 16, per_class=3, seed=1)
    b, _ = moving_digits(8, 8.0, 16, per_class=3, seed=1)
    c, _ = moving_digits(8, 8.0, 16, per_class=3, seed=2)
    assert a.shape == (30, 1, 8, 16, 16) and ya.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    ink = (a > -1).reshape(30, 8, -1).sum(-1)
    assert (ink > 0).all()  # the digit never leaves the frame
    moved = np.abs(np.diff(a, axis=2)).reshape(30, -1).sum(-1)
    assert (moved > 0).mean() > 0.9  # and moves
    two, _ = moving_digits(8, 8.0, 16, digits_per_clip=2, per_class=3, seed=1)
    assert (two > -1).sum() > (a > -1).sum()  # a second digit adds ink


def test_the_video_modality_loads_splits_and_describes():
    m = get_modality("video")
    split = m.load_split({"data": {"source": "moving-digits", "frames": 4, "image_size": 8},
                          "train": {"seed": 0}})  # fmt: skip
    assert len(split.train) == 1620 and len(split.val) == 180
    assert torch.bincount(split.val.labels).tolist() == [18] * 10  # stratified
    spec = m.spec_of(split.dataset)
    assert (spec.channels, spec.frames, spec.size, spec.fps, spec.num_classes) == (1, 4, 8, 8.0, 10)
    assert m.spec_from_dict(spec.to_dict()) == spec
    assert m.describe({"spec": spec.to_dict()}) == "4 frames at 8 fps, 8×8, 1 ch"


def test_inspect_reports_counts_durations_rates_and_sizes(clips: Path):
    r = inspect_video(str(clips))
    assert r.num_clips == 6 and r.frames is None
    assert r.rates["8"] == 4 and r.rates["8 (frames)"] == 1  # the MP4s and WebM; frame folder
    assert sum(r.rates.values()) == 6  # the GIF's centisecond delays make it about 8 fps
    assert r.durations["max"] == pytest.approx(1.5)
    assert r.class_counts == {"left": 4, "right": 2}
    assert r.to_dict()["num_images"] == 6  # the web UI's dataset view reads this count


def test_sprite_clips_blink_walk_and_nod():
    from genforge.data.sprite_clips import MOTIONS, sprite_clips

    x, y = sprite_clips(8, 16, 3, per_motion=4, seed=0)
    assert x.shape == (12, 3, 8, 16, 16) and [MOTIONS[k] for k in y[::4]] == list(MOTIONS)
    again, _ = sprite_clips(8, 16, 3, per_motion=4, seed=0)
    assert np.array_equal(x, again)
    change = np.abs(np.diff(x, axis=2)).mean(axis=(1, 3, 4))  # (N, T-1)
    blink, walk = change[:4], change[4:8]
    assert ((blink > 0).sum(1) >= 3).all()  # the eyes shut and open again
    assert (walk > 0).all() and walk.mean() > blink.mean()  # walking moves the whole sprite
    ds = load_video(VideoDataConfig(source="sprite-clips", frames=4, image_size=8, channels=3))
    assert ds.class_names == ["blink", "walk", "nod"] and len(ds) == 600


def test_the_embedded_video_sets_carry_the_licence_of_what_they_are_made_from():
    from genforge.data.governance import datasheet_of

    assert datasheet_of("moving-digits", embedded=True).license == "CC-BY-4.0"  # sklearn digits
    assert datasheet_of("sprite-clips", embedded=True).license == "Apache-2.0"  # drawn here
