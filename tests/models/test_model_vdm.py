"""VDM: the space-time UNet's shapes and factorisation, frame masks, training through the shared
trainer, prediction that keeps the given frames exactly, resume from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.core.video import decode_bytes
from genforge.data.video import VideoSpec
from genforge.generate.video import VideoPipeline, write_clips
from genforge.models.vdm import VDM, SpaceTimeBlock, VDMConfig, frame_mask
from genforge.train.launch import train

TINY = {"block_out_channels": [8, 16], "norm_num_groups": 4, "preview_steps": 2}
SPEC = VideoSpec(1, 4, 8, 8.0, 10, tuple(map(str, range(10))))


class NoTime(torch.nn.Module):
    """Stands in for the temporal attention: passes the frames through."""

    def forward(self, h: torch.Tensor, num_frames: int) -> SimpleNamespace:
        return SimpleNamespace(sample=h)


def tiny(**over) -> VDM:
    torch.manual_seed(0)
    cfg = VDMConfig(**{**TINY, "block_out_channels": (8, 16), **over})
    return VDM(cfg, SPEC).eval()


def test_the_unet_maps_clips_to_clips_and_mixes_frames_only_through_time_attention():
    model = tiny()
    x = torch.randn(2, 3, 4, 8, 8)  # (B, 2C + 1, T, H, W)
    t = torch.tensor([10, 500])
    out = model.unet(x, t)
    assert out.shape == (2, 1, 4, 8, 8)
    # changing frame 0 changes the other frames' outputs (temporal attention)...
    x2 = x.clone()
    x2[:, :, 0] += 1
    assert not torch.allclose(model.unet(x2, t)[:, :, 3], out[:, :, 3])
    # ...and without it, frames are independent
    for blk in model.unet.modules():
        if isinstance(blk, SpaceTimeBlock):
            blk.temporal = NoTime()
    a, b = model.unet(x, t), model.unet(x2, t)
    assert torch.allclose(a[:, :, 1:], b[:, :, 1:], atol=1e-6)


def test_frame_masks_give_some_frames_and_leave_some_to_generate():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        p = frame_mask("prefix", 8, g)
        k = int(p.sum())
        assert 1 <= k <= 7 and p[:k].all() and not p[k:].any()
        r = frame_mask("random", 8, g)
        assert 0 < r.sum() < 8
    assert frame_mask("alternate", 5).tolist() == [1, 0, 1, 0, 1]


def test_bad_configs_are_clear_errors():
    with pytest.raises(GenforgeError, match="must divide every block_out_channels"):
        VDM(VDMConfig(block_out_channels=(12, 16), norm_num_groups=8), SPEC)
    with pytest.raises(GenforgeError, match="too small"):
        VDM(VDMConfig(block_out_channels=(8, 8, 8, 8, 8)), SPEC)
    with pytest.raises(GenforgeError, match="needs labeled clips"):
        VDM(VDMConfig(conditional=True), VideoSpec(1, 4, 8, 8.0))
    with pytest.raises(GenforgeError, match="context must be in"):
        VDM(VDMConfig(context=1.0), SPEC)


def test_256_px_clips_are_a_vdm_size_from_folders_only():
    from genforge.data.video import VideoDataConfig, check_config

    big = VDM(VDMConfig(block_out_channels=(8, 16), spatial_attention="none"),
              VideoSpec(3, 4, 256, 8.0))  # fmt: skip  # frames that can carry the watermark
    assert big.clip_shape(1) == (1, 3, 4, 256, 256)
    check_config(VideoDataConfig(source="clips/", image_size=256))
    with pytest.raises(GenforgeError, match="goes up to 128 px"):
        check_config(VideoDataConfig(source="moving-digits", image_size=256))
    with pytest.raises(GenforgeError, match="image_size must be"):
        check_config(VideoDataConfig(source="clips/", image_size=512))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vdm")
    return train("cvdm", "moving-digits", runs_dir=root, image_size=8, frames=4, steps=2,
                 batch_size=4, checkpoint_every=1, **TINY)  # fmt: skip


def test_a_tiny_run_trains_through_the_shared_trainer_and_previews(run):
    assert (run.samples_dir / "latest.png").exists()
    frames = decode_bytes((run.samples_dir / "latest.mp4").read_bytes())
    assert frames.shape[0] == 4  # the clips' 4 frames
    cfg = run.read_config()
    assert cfg["modality"] == "video"
    assert cfg["spec"]["frames"] == 4 and cfg["data"]["fps"] == 8.0


def test_prediction_keeps_the_given_frames_exactly(run):
    pipe = VideoPipeline(run, device="cpu", steps=2)
    context = torch.rand(3, 1, 2, 8, 8) * 2 - 1
    out = pipe.predict(context, frames=5, seed=1)  # two windows: rolls forward
    assert out.shape == (3, 1, 7, 8, 8)
    assert torch.equal(out[:, :, :2], context)
    assert torch.equal(pipe.predict(context, frames=5, seed=1), out)  # seeded
    # without --label, each clip goes on as the class the model reads in its given frames,
    # not the classes in turn that sampling cycles through
    assert pipe.labels_for(3, None).tolist() == [0, 1, 2]
    assert pipe.labels_for(3, None, cycle=False) is None
    inferred = pipe.infer_labels(context, seed=1)
    assert torch.equal(pipe.predict(context, frames=5, seed=1, label=inferred), out)
    other = (inferred + 1) % 10
    assert not torch.equal(pipe.predict(context, frames=5, seed=1, label=other), out)
    assert torch.equal(pipe.predict(context, frames=5, seed=1, label=other)[:, :, :2], context)
    with pytest.raises(GenforgeError, match="1 to 3 given frames"):
        pipe.predict(torch.zeros(1, 1, 4, 8, 8))
    filled = pipe.fill(torch.ones(2, 1, 4, 8, 8), torch.tensor([1, 0, 1, 0]))
    assert torch.equal(filled[:, :, [0, 2]], torch.ones(2, 1, 2, 8, 8))


def test_sampling_writes_a_playable_mp4_a_gif_and_a_strip(run, tmp_path: Path):
    pipe = VideoPipeline(run, device="cpu", steps=2)
    path, clips = write_clips(pipe, 3, tmp_path / "c.mp4", seed=0, label="7")
    assert clips.shape == (3, 1, 4, 8, 8)
    frames = decode_bytes(path.read_bytes())
    assert frames.shape[0] == 4 and frames.shape[1] >= 128
    gif = decode_bytes(write_clips(pipe, 2, tmp_path / "c.gif")[0].read_bytes())
    assert gif.shape[0] >= 2
    from PIL import Image

    strip = Image.open(write_clips(pipe, 2, tmp_path / "c.png")[0])
    assert strip.width > strip.height  # a row of 4 frames per clip
    with pytest.raises(GenforgeError, match="unknown class"):
        pipe.sample(1, label="cat")


def test_resume_continues_from_the_checkpoint(run):
    before = run.step
    resumed = train(resume=str(run.path), steps=before + 1)
    assert resumed.step == before + 1


def test_restoring_keeps_known_pixels_and_small_strengths_stay_close(run):
    pipe = VideoPipeline(run, device="cpu", steps=4)
    clip = torch.rand(1, 1, 4, 8, 8) * 2 - 1
    hole = torch.zeros(8, 8)
    hole[2:6, 2:6] = 1
    out = pipe.restore(clip, hole=hole, seed=0)
    keep = hole == 0
    assert torch.equal(out[..., keep], clip[..., keep])  # every frame, outside the hole
    assert not torch.equal(out[..., ~keep], clip[..., ~keep])
    near = pipe.restore(clip, strength=0.25, seed=0)
    far = pipe.restore(clip, strength=1.0, seed=0)
    assert (near - clip).abs().mean() < (far - clip).abs().mean()
    with pytest.raises(GenforgeError, match="--denoise must be above 0"):
        pipe.restore(clip, strength=1.5)


def test_interpolation_keeps_the_input_frames_at_every_factor_th_place(run):
    from genforge.generate.video import interpolate

    pipe = VideoPipeline(run, device="cpu", steps=2)
    clip = torch.rand(1, 5, 8, 8) * 2 - 1  # (C, M, H, W)
    out = interpolate(pipe, clip, 2, seed=0)
    assert out.shape == (1, 9, 8, 8)  # two windows of 4 frames, sharing one
    assert torch.equal(out[:, ::2], clip)
    assert not torch.equal(out[:, 1], torch.zeros(1, 8, 8))
    with pytest.raises(GenforgeError, match="below the model's 4 frames"):
        interpolate(pipe, clip, 4)


def test_the_label_inferred_for_given_frames_is_the_class_the_model_denoises_best(run):
    """A planted model: for each clip, the network's output is the exact v target under one
    class and off under the others; `infer_labels` must find that class."""
    pipe = VideoPipeline(run, device="cpu")
    model = pipe.model
    frames = torch.rand(4, 1, 2, 8, 8) * 2 - 1  # 2 of the 4 frames given
    planted = torch.tensor([7, 0, 3, 3])
    x0 = torch.cat([frames, frames[:, :, -1:].expand(-1, -1, 2, -1, -1)], 2)
    a = model.scheduler.alphas_cumprod

    def oracle(x, t, labels, guidance=None, known=None, mask=None, net=None):
        ab = a[t].view(-1, 1, 1, 1, 1)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        v = ab.sqrt() * eps - (1 - ab).sqrt() * x0  # the exact target
        wrong = (labels != planted).float().view(-1, 1, 1, 1, 1)
        return v + 0.3 * wrong * torch.sin(7 * x0)

    model.predict = oracle
    assert pipe.infer_labels(frames, draws=4).tolist() == planted.tolist()
    assert pipe.infer_labels(frames[:, :, :1], draws=4).tolist() == planted.tolist()
