"""Video evaluation: temporal statistics see shuffled frames, the prediction baseline, and a
whole report on a tiny run (per-frame and clip-level FD named as such, not FVD)."""

from __future__ import annotations

import math

import pytest
import torch

from genforge.data.video import moving_digits
from genforge.evaluate.video import (
    prediction_metrics,
    repeat_last,
    shuffled_copy,
    temporal_metrics,
    temporal_stats,
)


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.from_numpy(moving_digits(8, 8.0, 16, per_class=6, seed=0)[0])


def test_shuffling_frames_changes_the_temporal_metrics_but_not_the_frames(clips):
    a, b = clips[:30], clips[30:]
    shuffled = shuffled_copy(b, seed=1)
    assert torch.equal(shuffled.sort(2).values, b.sort(2).values)  # the same frames, reordered
    assert not torch.equal(shuffled, b)
    same = {m.key: m.value for m in temporal_metrics(a, b)}
    moved = {m.key: m.value for m in temporal_metrics(a, shuffled)}
    assert moved["motion_w1"] > 3 * same["motion_w1"]
    assert moved["motion_generated"] > same["motion_generated"]  # jumps between far frames
    assert moved["frame_corr_w1"] > 3 * same["frame_corr_w1"]
    still = b[:, :, :1].expand_as(b)
    assert temporal_stats(still)["motion"].abs().max() == 0
    assert temporal_stats(still)["frame_corr"].min() > 0.999


def test_prediction_scores_sit_beside_the_repeat_last_frame_baseline(clips):
    context, truth = clips[:, :, :4], clips[:, :, 4:]
    perfect = {m.key: m.value for m in prediction_metrics(truth, truth, context)}
    assert math.isinf(perfect["prediction_psnr"]) or perfect["prediction_psnr"] > 60
    assert perfect["prediction_ssim"] == pytest.approx(1.0)
    base = perfect["prediction_psnr_repeat_last"]
    lazy = {m.key: m.value for m in prediction_metrics(repeat_last(context, 4), truth, context)}
    assert lazy["prediction_psnr"] == pytest.approx(base)  # repeating is the baseline
    noise = truth + 0.5 * torch.randn_like(truth)
    worse = {m.key: m.value for m in prediction_metrics(noise.clamp(-1, 1), truth, context)}
    assert worse["prediction_psnr"] < perfect["prediction_psnr"]


def test_a_tiny_run_evaluates_with_honest_names(tmp_path):
    from genforge.evaluate import evaluate_run
    from genforge.evaluate.report import write_report
    from genforge.train.launch import train

    run = train("cvdm", "moving-digits", runs_dir=tmp_path, image_size=16, frames=4, steps=2,
                batch_size=4, block_out_channels=[8, 16], preview_steps=2,
                num_train_timesteps=50)  # fmt: skip
    result = evaluate_run(run, n=12, domain_steps=5, steps=2, device="cpu")
    values = {m.key: m for m in result.metrics}
    for key in ("fd_frames", "fd_frames_real_floor", "fd_clips", "fd_clips_real_floor",
                "motion_w1", "frame_corr_w1", "prediction_psnr", "prediction_psnr_repeat_last",
                "prediction_ssim", "conditional_accuracy", "conditional_accuracy_frames",
                "classifier_val_accuracy_frames", "prediction_label_accuracy",
                "prediction_class_kept", "memorised_clips"):  # fmt: skip
        assert key in values, key
    assert "not FVD" in values["fd_clips"].label and "I3D" in values["fd_clips"].note
    assert "frames" in values["fd_frames"].label
    assert result.extra["memorisation"]["samples"] == 12
    html = write_report(run, result).read_text()
    assert "Prediction" in html and "clip-level FD" in html


def test_per_frame_conditional_accuracy_reads_every_frame_against_the_judge():
    from genforge.evaluate.features import domain_space
    from genforge.evaluate.video import conditional_metrics, frames_of

    clips, labels = (torch.from_numpy(a) for a in moving_digits(8, 8.0, 16, per_class=18))
    labels = labels.long()
    train, held = torch.arange(len(clips)) % 3 != 0, torch.arange(len(clips)) % 3 == 0
    space = domain_space(frames_of(clips[train]), labels[train].repeat_interleave(8),
                         "moving-digits frames", steps=400)  # fmt: skip
    real, real_labels = clips[held], labels[held]

    def values(fake, fake_labels):
        return {m.key: m.value for m in conditional_metrics(space, real, real_labels, fake,
                                                            fake_labels, 10)}  # fmt: skip

    # planted: the real held-out clips passed as "generated" score exactly the judge's accuracy
    same = values(real, real_labels)
    assert same["conditional_accuracy_frames"] == same["classifier_val_accuracy_frames"]
    assert same["conditional_accuracy"] == same["classifier_val_accuracy"]
    assert same["classifier_val_accuracy_frames"] > 0.5  # a judge that reads digits
    # labels shuffled among clips of other digits: the per-frame reading drops towards chance
    wrong = values(real, (real_labels + 1 + torch.arange(len(real_labels)) % 9) % 10)
    assert wrong["conditional_accuracy_frames"] < 0.3 * same["conditional_accuracy_frames"]
    # half of each clip's frames swapped for another digit's: per frame sees it, per clip may not
    partner = torch.stack([(real_labels != y).nonzero()[0, 0] for y in real_labels])
    mixed = torch.cat([real[:, :, :6], real[partner][:, :, 6:]], 2)  # 2 of 8 frames foreign
    mix = values(mixed, real_labels)
    drop = same["conditional_accuracy_frames"] - mix["conditional_accuracy_frames"]
    assert drop > 0.1  # about 2/8 of the frames the judge reads right
    assert mix["conditional_accuracy"] >= same["conditional_accuracy"] - 0.15
    # without asked-for labels (unconditional runs) only the judge is reported
    assert set(values(real, None)) == {"classifier_val_accuracy", "classifier_val_accuracy_frames"}
