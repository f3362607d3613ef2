"""`genforge bench seq2seq`'s table and verdict over several seeds: mean ± 95 % t-interval
[range] per model, the copy and Lead baselines from each seed's own held-out pairs, and per-seed
wins (a fake set of scores; the benchmark itself takes minutes)."""

from __future__ import annotations

from rich.console import Console

from genforge.bench.seq2seq import Seq2SeqBench, Seq2SeqRow, mean_ci, seq2seq_table, seq2seq_verdict


def scores(bleu: float, chrf: float, copy: float) -> dict[str, float]:
    s = {"bleu": bleu, "chrf": chrf, "rouge1": 1.0, "rouge2": 2.0, "rougeL": 3.0, "val_loss": 1.5}
    for prefix in ("copy_source", "lead"):
        s.update({f"{prefix}_{k}": copy for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL")})
    return s


def test_mean_ci_is_the_student_t_interval():
    assert mean_ci([5.0]) == (5.0, 0.0)
    mean, half = mean_ci([10.0, 12.0, 14.0])  # sd 2, t(0.975, 2) = 4.303
    assert mean == 12.0 and abs(half - 4.303 * 2 / 3**0.5) < 1e-3


def test_table_and_verdict_over_three_seeds():
    bench = Seq2SeqBench(seeds=(0, 1, 2))
    rows = [Seq2SeqRow("seq2seq", s, 100, 10.0, scores(20 + s, 40 + s, 10 + s)) for s in range(3)]
    rows += [Seq2SeqRow("gru-seq2seq", 0, 300, 10.0, scores(25, 39, 10)),
             Seq2SeqRow("gru-seq2seq", 1, 300, 10.0, scores(15, 35, 11)),
             Seq2SeqRow("gru-seq2seq", 2, 300, 10.0, scores(15, 35, 12))]  # fmt: skip
    console = Console(width=250, record=True)
    console.print(seq2seq_table(bench, rows))
    text = console.export_text()
    assert "21.0 ± 2.5 [20.0-22.0]" in text  # seq2seq BLEU over seeds
    assert "11.0 ± 2.5 [10.0-12.0]" in text  # the copy baseline: each seed's own held-out set
    assert "copy the source" in text and "lead (first sentence)" in text
    assert "t-interval [min-max]" in " ".join(text.split())  # not eaten as a markup tag
    assert seq2seq_verdict(bench, rows) == [
        "seq2seq beats gru-seq2seq in BLEU: 2 of 3 seeds",
        "seq2seq beats gru-seq2seq in CHRF: 3 of 3 seeds",
        "seq2seq beats copying the source in BLEU: 3 of 3 seeds",
        "seq2seq beats copying the source in CHRF: 3 of 3 seeds",
    ]
