from __future__ import annotations

import torch

from genforge.evaluate.memorization import audit, nearest


def test_nearest_finds_exact_matches():
    refs = torch.randn(50, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    d, i = nearest(refs[[3, 7]], refs)
    assert d.abs().max() < 1e-6 and i.tolist() == [3, 7]  # cdist's matmul path: ~1e-8, not 0


def test_audit_flags_planted_copies_and_spares_held_out_images(digits16):
    train, _, val, _ = digits16
    calib, held_out = val[:200], val[200:400]
    g = torch.Generator().manual_seed(0)
    exact = train[[5, 50, 500]]
    near = (train[[10, 100]] + 0.02 * torch.randn(2, *train.shape[1:], generator=g)).clamp(-1, 1)
    samples = torch.cat([exact, near, held_out])
    result = audit(samples, train, calib)
    assert result.flagged[:5].all(), result.pixel_dist[:5]
    assert result.pixel_index[:3].tolist() == [5, 50, 500]
    assert not result.flagged[5:].any(), result.pixel_dist[5:].min()
    assert set(result.closest(5)) == {0, 1, 2, 3, 4}
    assert result.summary()["flagged"] == 5


def test_audit_in_feature_space_too(digits16):
    train, _, val, _ = digits16
    proj = torch.randn(256, 16, generator=torch.Generator().manual_seed(1))

    def feats(x):
        return x.flatten(1) @ proj

    samples = torch.cat([train[:2], val[200:260]])
    result = audit(samples, train, val[:200], feats(samples), feats(train), feats(val[:200]))
    assert result.feat_threshold is not None
    assert result.flagged[:2].all() and not result.flagged[2:].any()


def test_audit_without_held_out_images_calibrates_leave_one_out(digits16):
    train = digits16[0][:40]  # a LoRA's handful of instance images: no held-out set
    samples = torch.cat([train[[2, 9]], digits16[2][:30]])  # two copies, then new digits
    result = audit(samples, train, None)
    loo, _ = nearest(train, train, skip_self=True)
    assert result.calibration["calibration"] == "leave-one-out"
    assert result.pixel_threshold == 0.5 * float(torch.quantile(loo, 0.05)) > 0
    assert result.flagged[:2].all() and not result.flagged[2:].any(), result.pixel_dist
