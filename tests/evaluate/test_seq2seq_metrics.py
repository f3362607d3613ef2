"""Text-to-text metrics: perfect outputs score 100, copying is scored as a baseline, and
outputs repeating a training target are counted."""

from __future__ import annotations

import pytest

from genforge.core.errors import GenforgeError
from genforge.evaluate.seq2seq import baseline_metrics, lead, seq2seq_scores

SRC = ["the red house", "a small dog", "good morning friend"]
REF = ["das rote Haus", "ein kleiner Hund", "guten Morgen Freund"]


def test_perfect_outputs_beat_copying_the_source():
    s = seq2seq_scores(SRC, REF, REF)
    assert s["bleu"] == pytest.approx(100.0) and s["chrf"] == pytest.approx(100.0)
    assert s["exact_match"] == 100.0 and s["length_ratio"] == 1.0 and s["rougeL"] == 100.0
    assert s["copy_source_bleu"] < 20 and s["copy_source_chrf"] < s["chrf"]
    assert s["bleu_signature"].startswith("nrefs:1") and "chrF" not in s["bleu_signature"]


def test_wrong_outputs_score_low_and_copies_of_training_targets_are_counted():
    hyp = ["ein kleiner Hund", "ein kleiner Hund", "das Auto"]
    s = seq2seq_scores(SRC, hyp, REF, train_targets=["ein kleiner Hund", "das Auto"])
    assert s["exact_match"] == pytest.approx(100 / 3)
    assert s["copied_train_targets"] == 2  # the correct one is not a copy
    assert s["bleu"] < 50


def test_mismatched_lists_are_a_one_line_error():
    with pytest.raises(GenforgeError, match="as many"):
        seq2seq_scores(SRC, REF[:2], REF)


def test_lead_baseline_is_the_first_sentence():
    assert lead("  The first one. And the 2.5 second!") == "The first one."
    assert lead("no sentence end here") == "no sentence end here"
    docs = ["Returns the length. It counts items.", "Opens a file. Use close."]
    s = seq2seq_scores(docs, ["x", "y"], ["Returns the length.", "Opens a file."])
    assert s["lead_rougeL"] == pytest.approx(100.0) and s["lead_bleu"] == pytest.approx(100.0)
    assert s["copy_source_rougeL"] < s["lead_rougeL"]
    # one-sentence sources (names, short phrases): Lead would be copying again, so it is not
    # scored, and the evaluator lists no Lead metric
    names = seq2seq_scores(SRC, REF, REF)
    assert "copy_source_bleu" in names and not [k for k in names if k.startswith("lead_")]
    assert not [m.key for m in baseline_metrics(names) if m.key.startswith("lead_")]


def test_the_evaluator_lists_every_baseline_score_the_bench_reads():
    """`genforge bench seq2seq` reads the copy and Lead baselines' BLEU, chrF and ROUGE-1/2/L
    from the evaluator's metrics."""
    from genforge.bench.seq2seq import BASELINES, SCORES

    docs = [f"{r}. And more about it." for r in REF]
    s = seq2seq_scores(docs, REF, REF)
    keys = {m.key for m in baseline_metrics(s)} | {"copy_source_bleu", "copy_source_chrf"}
    assert {f"{p}_{k}" for p in BASELINES.values() for k in SCORES} <= keys
