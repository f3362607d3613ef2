"""Kneser–Ney n-gram: a proper distribution everywhere, stored counts reload exactly, and it
beats a uniform model on held-out text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genforge.data.text import TextSpec
from genforge.data.text_tokenizers import char_tokenizer
from genforge.models.ngram import NGram, NGramConfig
from textkit import make_docs, make_folder, tiny_run


def _fitted(n: int = 4, discount: float | None = None) -> tuple[NGram, list[int], object]:
    docs = make_docs(12)
    tok = char_tokenizer(docs)
    stream = np.concatenate([[*tok.encode(d), tok.eos_id] for d in docs[:10]])
    spec = TextSpec(tok.vocab_size, 32, "char", tok.eos_id)
    model = NGram(NGramConfig(n=n, discount=discount), spec)
    model.fit(np.asarray(stream))
    held_out = tok.encode(docs[11])
    return model, held_out, tok


@pytest.mark.parametrize("discount", [None, 0.75])
def test_probabilities_sum_to_one(discount):
    model, held_out, tok = _fitted(4, discount)
    contexts = [[], held_out[:1], held_out[:3], held_out[5:8], [1, 1, 1], tok.encode("zzq")]
    for h in contexts:
        p = model.distribution(h)
        assert p.min() > 0
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        scalar = sum(model.prob(h, w) for w in range(model.V))
        assert scalar == pytest.approx(1.0, abs=1e-9)
        assert model.prob(h, 5) == pytest.approx(p[5])


def test_counts_round_trip_through_state_dict():
    model, held_out, _ = _fitted(3)
    again = NGram(model.config, model.spec)
    again.load_state_dict(model.state_dict())
    assert np.allclose(again.log2probs(held_out), model.log2probs(held_out))


def test_beats_uniform_on_held_out_text():
    model, held_out, _ = _fitted(4)
    bits = -model.log2probs(held_out).mean()
    assert bits < math.log2(model.V) - 1.0


def test_ngram_trains_through_the_cli_run(tmp_path):
    run = tiny_run("ngram", make_folder(tmp_path / "c"), tmp_path / "runs", "ng", n=3)
    assert (run.model_dir / "model.safetensors").exists()
    assert (run.model_dir / "tokenizer.json").exists()
    assert not list(run.path.rglob("*.pt")) and not list(run.path.rglob("*.pkl"))
    assert run.read_config()["model_config"]["n"] == 3
    assert len((run.samples_dir / "latest.txt").read_text()) > 100
    assert "steps: 1 of 1" in run.card_path.read_text()
