"""MoCoGAN: content fixed over a clip while motion varies, both discriminators' shapes, a tiny
run through the shared trainer sampled to clips, and what it cannot do (fill frames)."""

from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.data.video import VideoSpec
from genforge.generate.video import VideoPipeline
from genforge.models.mocogan import MoCoGAN, MoCoGANConfig
from genforge.train.launch import train

TINY = {"width": 4, "content_dim": 8, "motion_dim": 4, "noise_dim": 4}


@pytest.mark.parametrize("size", [8, 16, 32])
def test_clips_of_the_right_shape_and_critics_that_take_them(size: int):
    spec = VideoSpec(3, 6, size, 8.0, 3, ("a", "b", "c"))
    model = MoCoGAN(MoCoGANConfig(conditional=True, **TINY), spec).eval()
    z, y = model.latent(2), torch.tensor([0, 2])
    assert z.shape == (2, 8 + 6 * 4)
    clips = model.generate(z, y)
    assert clips.shape == (2, 3, 6, size, size) and clips.abs().max() <= 1
    assert model.video_discriminator(clips, y).shape == (2,)
    assert model.discriminator(clips[:, :, 0], y).shape == (2,)


def test_content_is_shared_by_the_frames_and_motion_noise_moves_them():
    torch.manual_seed(0)
    model = MoCoGAN(MoCoGANConfig(**TINY), VideoSpec(1, 4, 8, 8.0)).eval()
    z = model.latent(1)
    a = model.generate(z)
    z2 = z.clone()
    z2[:, 8 + 3 * 4 :] += 1.0  # only the last frame's motion noise
    b = model.generate(z2)
    assert torch.allclose(a[:, :, :3], b[:, :, :3])  # earlier frames do not see it
    assert not torch.allclose(a[:, :, 3], b[:, :, 3])
    z3 = z.clone()
    z3[:, :8] += 1.0  # the content code changes every frame
    c = model.generate(z3)
    assert all(not torch.allclose(a[:, :, t], c[:, :, t]) for t in range(4))


def test_a_tiny_run_trains_samples_and_refuses_to_fill_frames(tmp_path):
    run = train("cmocogan", "moving-digits", runs_dir=tmp_path, image_size=8, frames=4, steps=2,
                batch_size=4, **TINY)  # fmt: skip
    logs = run.metrics()[-1]
    assert {"loss_g", "loss_d_frame", "loss_d_clip"} <= set(logs)
    pipe = VideoPipeline(run, device="cpu")
    clips, labels = pipe.sample(3, seed=1, label="5")
    assert clips.shape == (3, 1, 4, 8, 8) and labels.tolist() == [5, 5, 5]
    assert torch.equal(pipe.sample(3, seed=1, label="5")[0], clips)
    with pytest.raises(GenforgeError, match="cannot predict: it generates whole clips only"):
        pipe.predict(clips[:, :, :2])
    with pytest.raises(GenforgeError, match="apply to diffusion runs"):
        VideoPipeline(run, device="cpu", steps=10)
    from genforge.evaluate import evaluate_run

    keys = {m.key for m in evaluate_run(run, n=8, domain_steps=3, device="cpu").metrics}
    assert {"fd_frames", "fd_clips", "motion_w1", "conditional_accuracy"} <= keys
    assert "prediction_psnr" not in keys  # a GAN cannot be given frames
