"""Text evaluation: the sample statistics on known inputs, and a whole report for tiny runs."""

from __future__ import annotations

import json
import math

import pytest

from genforge.evaluate import evaluate_run
from genforge.evaluate.report import write_report
from genforge.evaluate.text import (
    distinct_n,
    longest_shared_substring,
    repetition_rate,
    self_bleu,
)
from textkit import make_docs, make_folder, tiny_run


def test_distinct_and_repetition_on_known_texts():
    assert distinct_n(["a b c d"], 1) == 1.0
    assert distinct_n(["a a a a"], 1) == 0.25
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert repetition_rate(["a b c d a b c d"], 4) == pytest.approx(1 - 4 / 5)
    assert repetition_rate(["a b c d e f g"], 4) == 0.0
    assert math.isnan(distinct_n([""], 1))


def test_self_bleu_is_high_for_copies_low_for_different_texts():
    same = ["the cat sat on the mat today"] * 3
    docs = make_docs(3, words=20)
    assert self_bleu(same) == pytest.approx(1.0)
    assert self_bleu(docs) < 0.5


def test_longest_shared_substring():
    corpus = "the quick brown fox jumps over the lazy dog"
    assert longest_shared_substring("a quick brown cat", corpus) == " quick brown "
    assert longest_shared_substring("!?#", corpus) == ""


def test_evaluate_gpt_and_ngram_runs(tmp_path):
    corpus = make_folder(tmp_path / "c", n=20)
    refs = tmp_path / "refs.txt"
    refs.write_text("\n".join(make_docs(2, seed=5, words=12)))
    gpt = tiny_run("gpt", corpus, tmp_path / "runs", "g", block_size=64)
    result = evaluate_run(gpt, n=4, max_new_tokens=40, references=refs,
                          memorization_chars=8)  # fmt: skip
    v = {m.key: m.value for m in result.metrics}
    # an untrained char model: close to uniform over the vocabulary
    vocab = gpt.read_config()["spec"]["vocab_size"]
    assert 0.5 * vocab < v["perplexity"] < 2 * vocab
    assert v["bits_per_char"] == pytest.approx(math.log2(v["perplexity"]), rel=0.05)
    assert v["kn5_bits_per_char"] < v["bits_per_char"]  # counting beats two gradient steps
    for k in ("distinct_1", "distinct_2", "self_bleu", "rep_4", "bleu", "rouge1", "rougeL"):
        assert k in v
    assert v["memorized_max_chars"] >= 1
    out = write_report(gpt, result)
    assert "Samples" in out.read_text()
    assert json.loads((gpt.path / "metrics.json").read_text())["modality"] == "text"

    ngram = tiny_run("ngram", corpus, tmp_path / "runs", "n", n=5)
    r2 = evaluate_run(ngram, n=3, max_new_tokens=40, baseline=False)
    assert r2.value("bits_per_char") < v["bits_per_char"]
