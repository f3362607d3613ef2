"""`genforge train --resume RUN --feedback`: a round learns from the run's ratings, writes a new
checkpoint, keeps the old one loadable, records itself, and refuses what it cannot do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from genforge.safety.feedback import FeedbackStore, Rating
from textkit import make_folder

TINY_GPT = ["--context", "32", "--steps", "2", "--batch-size", "4", "--set", "n_layer=1",
            "--set", "n_head=2", "--set", "n_embd=16", "--tokenizer", "char"]  # fmt: skip


def _rate_review(cli, runs: Path, run: str, n: int, *extra: str) -> list[str]:
    """Draw `n` review outputs of `run` and rate them alternately down, up (by two raters for
    the first one). Returns the output ids."""
    cli.ok("review", run, "--n", n, "--draw-only", "--runs-dir", runs, *extra)
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    ids = sorted(r.id for r in store.provenance.search(run=run)[0])
    assert len(ids) == n
    for i, oid in enumerate(ids):
        store.rate(oid, "ann", Rating(thumb="up" if i % 2 else "down"))
    store.rate(ids[0], "bob", Rating(score=2, tags=["blurry"]))
    return ids


def _weights(run: Path, folder: str = "model") -> dict:
    return load_file(run / folder / "model.safetensors")


def _changed(a: dict, b: dict) -> bool:
    return any(not (a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("fixture,kind", [("dcgan_run", "negatives"),
                                          ("cddpm_run", "reward-weighted")])  # fmt: skip
def test_image_round_learns_keeps_the_old_weights_and_records(
    cli, request, tmp_path, fixture, kind
):
    runs = tmp_path / "runs"
    shutil.copytree(request.getfixturevalue(fixture), runs / "g")
    msg = cli.fails("train", "--resume", "g", "--feedback", "--runs-dir", runs)
    assert "has no ratings to learn from" in msg and "genforge review g" in msg
    _rate_review(cli, runs, "g", 8)
    old = _weights(runs / "g")
    step = json.loads((runs / "g" / "model" / "meta.json").read_text())["step"]
    out = cli.ok("train", "--resume", "g", "--feedback", "--steps", step + 2, "--runs-dir", runs,
                 "--set", "feedback_share=0.5").output  # fmt: skip
    assert f"feedback round 1 of g ({kind}, steps {step} to {step + 2})" in out
    assert "9 ratings by ann, bob of 8 outputs, 4 approved and 4 rejected" in out
    new = _weights(runs / "g")
    assert _changed(old, new)  # the round moved the weights ...
    kept = _weights(runs / "g", "feedback/round-1/model")
    assert not _changed(old, kept)  # ... and the weights from before are kept as they were
    cfg = yaml.safe_load((runs / "g" / "config.yaml").read_text())
    (r,) = cfg["feedback"]
    assert r["round"] == 1 and r["kind"] == kind and r["steps"] == [step, step + 2]
    assert r["approved"] == 4 and r["rejected"] == 4 and len(r["outputs"]) == 8
    assert set(r["before"]) == set(r["after"]) and "recall" in r["after"]
    assert "## Feedback" in (runs / "g" / "README.md").read_text()
    # the old checkpoint still samples; the new one does too
    for ckpt in ("before-feedback", "last"):
        cli.ok("sample", "g", "--runs-dir", runs, "--n", "2", "--checkpoint", ckpt,
               "--out-dir", tmp_path / ckpt)  # fmt: skip
        assert len(list((tmp_path / ckpt).glob("*.png"))) == 2
    # a planted fall in diversity stops the next round until forced
    cfg["feedback"][0]["diversity_fell"] = ["classes covered fell from 1 to 0.3"]
    (runs / "g" / "config.yaml").write_text(yaml.safe_dump(cfg))
    msg = cli.fails("train", "--resume", "g", "--feedback", "--runs-dir", runs)
    assert "stopped: diversity fell in feedback round 1" in msg and "feedback_force" in msg
    cli.ok("train", "--resume", "g", "--feedback", "--runs-dir", runs, "--set",
           "feedback_force=true", "--set", "feedback_steps=1")  # fmt: skip
    assert len(yaml.safe_load((runs / "g" / "config.yaml").read_text())["feedback"]) == 2


def test_text_round_is_dpo_and_the_old_weights_still_decode(cli, tmp_path):
    runs = tmp_path / "runs"
    corpus = make_folder(tmp_path / "corpus")
    cli.ok("train", "gpt", "--data", corpus, "--name", "t", "--runs-dir", runs, *TINY_GPT)
    _rate_review(cli, runs, "t", 6, "--prompt", "Document")
    old = _weights(runs / "t")
    out = cli.ok("train", "--resume", "t", "--feedback", "--runs-dir", runs, "--set",
                 "feedback_steps=2").output  # fmt: skip
    assert "(preference, steps 2 to 4)" in out and "distinct_2" in out
    assert _changed(old, _weights(runs / "t"))
    logged = (runs / "t" / "metrics.jsonl").read_text()
    assert "dpo_loss" in logged and "preference_accuracy" in logged
    from genforge.core.run import Run
    from genforge.generate.text import TextPipeline

    run = Run(runs / "t")
    before = TextPipeline(run, model_dir=run.before_feedback_dir())
    assert not _changed(old, {k: v for k, v in before.model.state_dict().items() if k in old})


def test_feedback_refuses_what_it_cannot_do(cli, dcgan_run, vae_run, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(vae_run, runs / "v")
    shutil.copytree(dcgan_run, runs / "g")
    assert "vae runs do not learn from ratings" in cli.fails(
        "train", "--resume", "v", "--feedback", "--runs-dir", runs
    )
    assert "--feedback continues a trained run" in cli.fails("train", "dcgan", "--feedback")
    ids = _rate_review(cli, runs, "g", 4)
    msg = cli.fails("train", "--resume", "g", "--feedback", "--runs-dir", runs, "--set",
                    "feedback_share=0.9")  # fmt: skip
    assert "feedback_share must be in (0, 0.5]" in msg
    store = FeedbackStore(runs / ".serve" / "genforge.sqlite")
    for oid in ids:  # everyone approves: a GAN round has no rejected output to learn from
        store.rate(oid, "ann", Rating(thumb="up"))
    store.rate(ids[0], "bob", Rating(thumb="up"))
    msg = cli.fails("train", "--resume", "g", "--feedback", "--runs-dir", runs)
    assert "4 approved, 0 rejected" in msg and "needs rejected outputs" in msg


def test_an_interrupted_round_keeps_the_weights_from_before_its_first_attempt(cli, dcgan_run,
                                                                             tmp_path):  # fmt: skip
    from genforge.core.run import Run
    from genforge.train.feedback import keep_before

    runs = tmp_path / "runs"
    shutil.copytree(dcgan_run, runs / "g")
    run = Run(runs / "g")
    first = _weights(runs / "g")
    kept = keep_before(run, 1)  # the round starts, then is interrupted after some steps
    cli.ok("train", "--resume", "g", "--steps", run.step + 2, "--runs-dir", runs)
    assert _changed(first, _weights(runs / "g"))
    assert keep_before(run, 1) == kept  # run again: the copy from the first attempt stays
    assert not _changed(first, _weights(runs / "g", "feedback/round-1/model"))


def test_a_round_tunes_the_rated_model_with_a_fresh_ema(cli, cddpm_run, tmp_path, monkeypatch):
    """The ratings judged samples of the EMA: the round starts from those weights, and its EMA
    restarts (a carried-over 0.999 EMA would barely move in a 200-step round)."""
    from genforge.core.checkpoint import load_ema
    from genforge.core.run import Run
    from genforge.train.trainer import Trainer

    runs = tmp_path / "runs"
    shutil.copytree(cddpm_run, runs / "g")
    _rate_review(cli, runs, "g", 8)
    seen, ema_before = [], {}
    restart = Trainer.restart_from_sampled

    def spy(trainer):
        restart(trainer)
        raw = {f"{trainer.sampling_name}.{k}": v
               for k, v in trainer.sampling_raw.state_dict().items()}  # fmt: skip
        seen.append(int(trainer.ema.n_averaged))
        assert all(torch.equal(raw[k], ema_before[k]) for k in ema_before)

    monkeypatch.setattr(Trainer, "restart_from_sampled", spy)
    step = Run(runs / "g").step
    cli.ok("train", "--resume", "g", "--steps", step + 1, "--runs-dir", runs)  # a plain resume
    assert seen == []
    ema_before.update(load_ema(Run(runs / "g")))
    cli.ok("train", "--resume", "g", "--feedback", "--steps", step + 2, "--runs-dir", runs)
    assert seen == [0]
    # one step later the fresh EMA is a copy of the round's weights
    raw, ema = _weights(runs / "g"), load_ema(Run(runs / "g"))
    assert all(torch.equal(raw[k], ema[k]) for k in ema)
