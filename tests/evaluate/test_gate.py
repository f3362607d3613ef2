from __future__ import annotations

import pytest
import torch

from genforge.core.errors import GenforgeError
from genforge.evaluate.gate import QualityScorer, gated_sample
from genforge.evaluate.image import ImageEvaluator


@pytest.fixture(scope="module")
def cgan_eval(tiny_runs, feature_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENFORGE_CACHE", str(feature_cache))
        return ImageEvaluator(tiny_runs["cgan"], domain_steps=60)


def test_scores_lie_in_unit_interval_with_every_component(cgan_eval):
    scorer = QualityScorer(cgan_eval)
    assert scorer.components == ["realism", "confidence", "manifold"]
    x = cgan_eval.pipe.sample(32, seed=1)
    y = cgan_eval.pipe.labels_for(32)
    s = scorer.score(x, y)
    for k in (*scorer.components, "score"):
        assert s[k].shape == (32,) and (s[k] >= 0).all() and (s[k] <= 1).all()
    real = scorer.score(cgan_eval.data.val[:32], cgan_eval.data.val_labels[:32])
    assert real["manifold"].mean() > s["manifold"].mean()  # real images lie on the manifold


def test_accepted_samples_pass_the_bar_and_the_rate_is_reported(cgan_eval):
    pipe = cgan_eval.pipe
    scorer = QualityScorer(cgan_eval)
    probe = scorer.score(pipe.sample(64, seed=5), pipe.labels_for(64))["score"]
    bar = float(torch.quantile(probe, 0.2))  # most candidates pass, not all
    result = gated_sample(cgan_eval, 12, best_of=10, min_score=bar, seed=3)
    assert len(result.images) == 12 and (result.scores >= bar).all()
    stats = result.summary()
    assert 0 < stats["acceptance_rate"] < 1 and stats["candidates"] <= 12 * 10
    assert result.labels.tolist() == (torch.arange(12) % 10).tolist()  # classes cycle as asked
    again = gated_sample(cgan_eval, 12, best_of=10, min_score=bar, seed=3)
    assert torch.equal(result.images, again.images)  # seeded


def test_gate_stops_at_the_budget_when_the_bar_is_unreachable(cgan_eval):
    result = gated_sample(cgan_eval, 5, best_of=2, min_score=1.0, seed=0, label=3)
    assert result.candidates == 10 and len(result.images) < 5
    with pytest.raises(GenforgeError, match="best-of"):
        gated_sample(cgan_eval, 5, best_of=0, min_score=0.5)
    with pytest.raises(GenforgeError, match="min-score"):
        gated_sample(cgan_eval, 5, best_of=2, min_score=1.5)


def test_gate_works_for_a_vae_without_discriminator(tiny_runs, feature_cache, monkeypatch):
    monkeypatch.setenv("GENFORGE_CACHE", str(feature_cache))
    ev = ImageEvaluator(tiny_runs["vae"], domain_steps=60)
    result = gated_sample(ev, 6, best_of=3, min_score=0.0)
    assert result.components == ["confidence", "manifold"] and len(result.images) == 6


def test_gate_works_for_a_diffusion_run(tmp_path, feature_cache, monkeypatch):
    import genforge

    monkeypatch.setenv("GENFORGE_CACHE", str(feature_cache))
    pipe = genforge.train(
        "cddpm", "digits", name="tiny-cddpm", runs_dir=tmp_path, image_size=8, batch_size=16,
        steps=3, block_out_channels=(8, 16), norm_num_groups=4, preview_steps=2,
        sample_every=1000,
    )  # fmt: skip
    ev = ImageEvaluator(pipe.run, domain_steps=60)
    result = gated_sample(ev, 4, best_of=2, min_score=0.0, label=7)
    assert result.components == ["confidence", "manifold"]  # no discriminator in a diffusion run
    assert len(result.images) == 4 and result.labels.tolist() == [7, 7, 7, 7]


def test_candidates_close_to_an_opted_out_work_are_rejected(cgan_eval, tmp_path, monkeypatch):
    from genforge.core.images import phash, to_pil, to_uint8
    from genforge.evaluate.gate import near_opted_out

    first = gated_sample(cgan_eval, 6, best_of=4, min_score=0.0, seed=7)
    assert first.summary()["rejected_opted_out"] == 0
    hashes = [h for h in (phash(to_pil(to_uint8(x))) for x in first.images) if h]
    assert hashes, "the tiny GAN drew only flat images"
    (tmp_path / "optout.txt").write_text("".join(f"phash:{h}\n" for h in hashes))
    monkeypatch.setenv("GENFORGE_OPTOUT", str(tmp_path / "optout.txt"))
    again = gated_sample(cgan_eval, 6, best_of=4, min_score=0.0, seed=7)
    assert again.summary()["rejected_opted_out"] >= len(hashes)
    from genforge.data.governance import load_optout

    assert not any(near_opted_out(x, load_optout()) for x in again.images)
