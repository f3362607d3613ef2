"""Zero-shot text scores from local LMs: a model's own samples score as more likely than
shuffled text, Binoculars needs one shared tokenizer, and `genforge detect` names the models
and decides only with a threshold; a text run's watermark is evidence of its own."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.core.errors import GenforgeError
from genforge.evaluate.zeroshot import load_lm, zero_shot_scores
from genforge.generate.text import DecodeOptions, TextPipeline
from hf_tiny import save_tiny_chat_gpt2
from textkit import make_docs, make_folder, tiny_run


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms")
    return save_tiny_chat_gpt2(root / "a", template=None, seed=0), save_tiny_chat_gpt2(
        root / "b", template=None, seed=1
    )


def test_a_models_samples_score_more_likely_than_shuffled_text(lms):
    from transformers import AutoTokenizer

    lm = load_lm(lms[0])
    tok = AutoTokenizer.from_pretrained(lms[0])
    torch.manual_seed(0)
    start = torch.tensor([[tok.eos_token_id]])
    own, shuffled = [], []
    for _ in range(4):
        ids = lm.model.generate(start, do_sample=True, max_new_tokens=40, min_new_tokens=40,
                                pad_token_id=tok.eos_token_id)[0, 1:].tolist()  # fmt: skip
        rnd = ids[:]
        random.Random(0).shuffle(rnd)
        own.append(zero_shot_scores(tok.decode(ids), lm)["log_likelihood"])
        shuffled.append(zero_shot_scores(tok.decode(rnd), lm)["log_likelihood"])
    assert sum(own) / 4 > sum(shuffled) / 4


def test_binoculars_with_two_models_of_one_tokenizer(lms):
    a, b = load_lm(lms[0]), load_lm(lms[1])
    s = zero_shot_scores("hello there, the cat sat on the mat", a, b)
    assert s["lm"].startswith("a (gpt2)") and s["lm2"].startswith("b (gpt2)")
    assert s["binoculars"] > 0 and s["tokens"] > 3 and s["log_rank"] >= 0


def test_two_tokenizers_and_missing_models_are_one_line_errors(lms, tmp_path):
    corpus = make_folder(tmp_path / "corpus", n=6)
    run = tiny_run("gpt", corpus, tmp_path / "runs", "g", steps=2)
    with pytest.raises(GenforgeError, match="one tokenizer"):
        zero_shot_scores("the model", load_lm(run.path), load_lm(lms[0]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenforgeError, match="neither a genforge text run"):
        load_lm(tmp_path / "empty")


def test_detect_text_evidence_names_the_models_and_the_watermark(lms, tmp_path):
    corpus = make_folder(tmp_path / "corpus", n=12)
    run = tiny_run("gpt", corpus, tmp_path / "runs", "g", block_size=128)
    gpt = TextPipeline(run)
    marked = DecodeOptions(do_sample=True, max_new_tokens=120, min_new_tokens=120, watermark=True)
    (tmp_path / "marked.txt").write_text(gpt.generate([""], marked)[0][0].text)
    (tmp_path / "human.txt").write_text(make_docs(1, seed=99)[0])
    cli = CliRunner()
    r = cli.invoke(app, ["detect", str(tmp_path / "marked.txt"), str(tmp_path / "human.txt"),
                         "--model", str(run.path), "--lm", str(lms[0]), "--lm2", str(lms[1]),
                         "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = {res["path"].rsplit("/", 1)[-1]: res for res in json.loads(r.stdout)}
    wm = out["marked.txt"]
    assert wm["verdict"] == "generated" and wm["evidence"][0]["kind"] == "text-watermark"
    assert wm["evidence"][0]["z_score"] > 4 and wm["score"] > 0.99
    human = out["human.txt"]
    assert human["verdict"] == "unknown"  # no watermark is no proof, zero-shot has no threshold
    zs = next(e for e in human["evidence"] if e["kind"] == "zero-shot")
    assert (
        zs["lm"].startswith("a (gpt2)") and zs["lm2"].startswith("b (gpt2)") and "binoculars" in zs
    )
    # a threshold makes the zero-shot score decide
    r = cli.invoke(app, ["detect", str(tmp_path / "human.txt"), "--lm", str(lms[0]),
                         "--lm2", str(lms[1]), "--text-threshold", "1000", "--json"])  # fmt: skip
    assert json.loads(r.stdout)[0]["verdict"] == "generated"
